"""A small synchronous console-socket client for tests, logged in through a real session."""

from __future__ import annotations

import json
import time
from typing import Any

from django.contrib.auth.models import User
from django.test import Client
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect


def session_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


class ConsoleClient:
    def __init__(
        self, base_url: str, ws_url: str, user: User | None, origin: str | None = None
    ) -> None:
        headers = {"Cookie": f"sessionid={session_cookie(user)}"} if user is not None else {}
        self.conn: ClientConnection = connect(
            f"{ws_url}/ws/console/",
            origin=origin or base_url,  # type: ignore[arg-type]
            additional_headers=headers,
            open_timeout=10,
        )
        self.frames: list[dict[str, Any]] = []

    def send(self, frame: dict[str, Any]) -> None:
        self.conn.send(json.dumps(frame))

    def recv(self, timeout: float = 30) -> dict[str, Any]:
        frame = json.loads(self.conn.recv(timeout=timeout))
        self.frames.append(frame)
        return frame

    def recv_until(self, predicate: Any, timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        got = []
        while True:
            frame = self.recv(timeout=max(0.1, deadline - time.monotonic()))
            got.append(frame)
            if predicate(frame):
                return got

    def act(self, action: str, **fields: Any) -> dict[str, Any]:
        """Send an action and return its answer (`ok` or `error`), skipping live frames."""
        self.send({"type": action, **fields})
        frames = self.recv_until(
            lambda f: f["type"] in ("ok", "error") and f.get("action") == action, timeout=30
        )
        return frames[-1]

    def close(self) -> None:
        # Read what is pending first: with unread frames, this client's close did not reach
        # the server's consumer in our runs (a client-side quirk; a browser closes cleanly).
        while True:
            try:
                self.recv(timeout=0.3)
            except (TimeoutError, ConnectionClosed):
                break
        self.conn.close()
