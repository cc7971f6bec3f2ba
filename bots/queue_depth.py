"""Each `llm` worker's scheduler queue depth, for operators (issue #13).

A thread-pool `llm` worker (SWITCHBOARD_LLM_CONCURRENCY > 1) logs a line and writes its
loaded models' depth (requests in the batch, waiting for a slot) to one Redis hash every
REPORT_S; the Django admin's bot list shows the live entries to superusers.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from typing import Any

import redis
from django.conf import settings

from bots.engines import scheduler_depths

log = logging.getLogger(__name__)

KEY = "sb:llm-queue-depth"
REPORT_S = 5.0
STALE_S = 30.0  # an entry older than this is a worker that stopped reporting


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def report_once(client: redis.Redis | None = None) -> dict[str, dict[str, int]]:
    depths = scheduler_depths()
    if depths:
        for model, depth in depths.items():
            if depth["active"] or depth["waiting"]:
                log.info(
                    "llm queue %s: %d generating, %d waiting for a slot (%d slots)",
                    model,
                    depth["active"],
                    depth["waiting"],
                    depth["slots"],
                )
        entry = json.dumps({"at": time.time(), "models": depths})
        (client or _redis()).hset(KEY, worker_id(), entry)
    return depths


def start_reporting() -> threading.Thread:
    """The worker's reporting thread (daemon): every REPORT_S, until the process ends."""

    def loop() -> None:
        client = _redis()
        while True:
            try:
                report_once(client)
            except redis.RedisError as exc:
                log.warning("queue depth report failed: %s", exc)
            time.sleep(REPORT_S)

    thread = threading.Thread(target=loop, name="llm-queue-depth", daemon=True)
    thread.start()
    return thread


def current() -> dict[str, dict[str, Any]]:
    """The live workers' entries: {worker: {"at": seconds, "models": {model: depth}}}."""
    now = time.time()
    live = {}
    for worker, raw in _redis().hgetall(KEY).items():
        entry = json.loads(raw)
        if now - float(entry["at"]) <= STALE_S:
            live[worker.decode() if isinstance(worker, bytes) else str(worker)] = entry
    return live


def summary_lines() -> list[str]:
    lines = []
    for worker, entry in sorted(current().items()):
        for model, depth in sorted(entry["models"].items()):
            lines.append(
                f"Model worker {worker}, {model}: {depth['active']} generating, "
                f"{depth['waiting']} waiting for a slot, {depth['slots']} slots "
                f"(served {depth['served']}, failed {depth['failed']}, "
                f"cancelled {depth['cancelled']})"
            )
    return lines
