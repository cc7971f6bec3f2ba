"""Run service calls at the same moment, each on its own thread and Postgres connection."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connection


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Start the calls together (a barrier); each one's result, or the exception it raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(n: int) -> None:
        try:
            barrier.wait()
            results[n] = calls[n]()
        except Exception as error:  # noqa: BLE001 - the caller asserts on it
            results[n] = error
        finally:
            connection.close()  # each thread has its own Postgres connection

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
