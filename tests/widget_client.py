"""A small synchronous widget-protocol client for tests (docs/protocol.md), like the real widget."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

from websockets.sync.client import ClientConnection, connect


class WidgetClient:
    def __init__(
        self,
        ws_url: str,
        key: str,
        visitor: str,
        origin: str = "https://shop.example",
        identity: dict[str, str] | None = None,  # user_id + user_hash, or token
    ) -> None:
        extra = "".join(f"&{name}={quote(value)}" for name, value in (identity or {}).items())
        self.conn: ClientConnection = connect(
            f"{ws_url}/ws/widget/?key={key}&visitor={visitor}{extra}",
            origin=origin,
            open_timeout=10,  # type: ignore[arg-type]
        )
        self.key, self.visitor = key, visitor
        self.frames: list[dict[str, Any]] = []
        self.hello = self.recv()
        assert self.hello["type"] == "hello", self.hello

    @property
    def conversation_id(self) -> int:
        """The socket's conversation: the one `hello` named, else the one the customer's first
        message (or request for a human, or offline message) started. Reads the database."""
        if self.hello["conversation_id"] is not None:
            return int(self.hello["conversation_id"])
        from memory.conversations.models import Conversation, Message

        for frame in reversed(self.frames):
            if frame["type"] == "ack":
                return Message.objects.get(pk=frame["message"]["id"]).conversation_id
        deadline = time.monotonic() + 10  # a frame just sent may still be on its way
        while True:
            started = (
                Conversation.objects.filter(
                    bot__widget_keys__key=self.key, contact__visitor_id=self.visitor
                )
                .order_by("-created_at")
                .first()
            )
            if started is not None:
                return int(started.pk)
            assert time.monotonic() < deadline, "no conversation: the first message starts it"
            time.sleep(0.1)

    def send(self, frame: dict[str, Any] | str) -> None:
        self.conn.send(frame if isinstance(frame, str) else json.dumps(frame))

    def recv(self, timeout: float = 30) -> dict[str, Any]:
        frame = json.loads(self.conn.recv(timeout=timeout))
        self.frames.append(frame)
        return frame

    def recv_until(self, predicate: Any, timeout: float = 60) -> list[dict[str, Any]]:
        """Frames up to and including the first that matches."""
        deadline = time.monotonic() + timeout
        got = []
        while True:
            frame = self.recv(timeout=max(0.1, deadline - time.monotonic()))
            got.append(frame)
            if predicate(frame):
                return got

    def resume(self, last_seq: int) -> list[dict[str, Any]]:
        self.send({"type": "resume", "last_seq": last_seq})
        return self.recv_until(lambda f: f["type"] == "resumed")

    def close(self) -> None:
        self.conn.close()


def is_final_reply(frame: dict[str, Any]) -> bool:
    return (
        frame["type"] == "message"
        and frame["message"]["role"] == "bot"
        and frame["message"]["status"] in ("final", "failed")
    )


class Transcript:
    """What a widget shows: messages by id, built from frames exactly as the widget does."""

    def __init__(self) -> None:
        self.messages: dict[int, dict[str, Any]] = {}

    def apply(self, frame: dict[str, Any]) -> None:
        if frame["type"] in ("message", "ack"):
            message = frame["message"]
            self.messages[message["id"]] = dict(message)
        elif frame["type"] == "reply.delta":
            message = self.messages.setdefault(
                frame["message_id"],
                {"id": frame["message_id"], "seq": frame["seq"], "text": "", "role": "bot"},
            )
            assert frame["offset"] == len(message["text"]), (frame, message["text"])
            message["text"] += frame["text"]

    def texts(self) -> list[tuple[int, str, str]]:
        return [
            (m["seq"], m["role"], m["text"])
            for m in sorted(self.messages.values(), key=lambda m: m["seq"])
        ]
