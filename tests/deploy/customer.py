"""An asyncio widget client that behaves like widget.js across process restarts.

It keeps a transcript (tests.widget_client.Transcript: a delta that does not continue the
text exactly fails at once), and when its socket closes it connects to the next web
process, sends `resume` with the last seq it holds in final form, and resends the
messages not yet acknowledged (the same client_id: stored once).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.widget_client import Transcript

ORIGIN = "https://shop.example"


class Customer:
    def __init__(self, ws_urls: list[str], key: str, first: int = 0) -> None:
        self.urls = ws_urls
        self.index = first
        self.key = key
        self.visitor = uuid.uuid4().hex
        self.seen = Transcript()
        self.pending: dict[str, str] = {}  # client_id -> text, until acknowledged
        self.acked: dict[str, int] = {}  # client_id -> the user message's seq
        self.closes: list[tuple[str, int | None]] = []  # (url, close code) per lost socket
        self.conn: ClientConnection | None = None
        self.sent = 0

    def last_seq(self) -> int:
        high, streaming = 0, None
        for message in self.seen.messages.values():
            high = max(high, message["seq"])
            if message.get("status", "streaming") == "streaming":
                streaming = min(streaming or message["seq"], message["seq"])
        return high if streaming is None else streaming - 1

    async def connect(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            url = self.urls[self.index % len(self.urls)]
            try:
                self.conn = await connect(
                    f"{url}/ws/widget/?key={self.key}&visitor={self.visitor}",
                    origin=ORIGIN,  # type: ignore[arg-type]
                    open_timeout=20,
                )
                hello = json.loads(await self.conn.recv())
                assert hello["type"] == "hello", hello
                await self.conn.send(json.dumps({"type": "resume", "last_seq": self.last_seq()}))
                while (frame := await self._read()) is not None and frame["type"] != "resumed":
                    pass
                if frame is None:
                    continue  # lost again while resuming: next process
                for client_id, text in self.pending.items():
                    await self._send_message(client_id, text)
                return
            except (OSError, InvalidHandshake, ConnectionClosed):
                self.index += 1  # this process is gone or going: the next one
                assert time.monotonic() < deadline, "no web process took the socket"
                await asyncio.sleep(0.2)

    async def _read(self) -> dict[str, Any] | None:
        """The next frame, applied to the transcript; None when the socket closed."""
        assert self.conn is not None
        try:
            frame: dict[str, Any] = json.loads(await self.conn.recv())
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else None
            self.closes.append((self.urls[self.index % len(self.urls)], code))
            self.index += 1  # as a proxy would: the next process
            return None
        self.seen.apply(frame)
        if frame["type"] == "ack":
            self.pending.pop(frame["client_id"], None)
            self.acked[frame["client_id"]] = frame["seq"]
        elif frame["type"] == "error":
            raise AssertionError(f"the platform refused a frame: {frame}")
        return frame

    async def _send_message(self, client_id: str, text: str) -> None:
        assert self.conn is not None
        await self.conn.send(json.dumps({"type": "message", "client_id": client_id, "text": text}))

    async def next_frame(self) -> dict[str, Any]:
        """The next frame, reconnecting (and resuming) as often as it takes."""
        while True:
            frame = await self._read()
            if frame is not None:
                return frame
            await self.connect()

    def answered(self, client_id: str) -> bool:
        seq = self.acked.get(client_id)
        return seq is not None and any(
            m["role"] == "bot" and m.get("status") in ("final", "failed") and m["seq"] > seq
            for m in self.seen.messages.values()
        )

    async def ask(self, text: str, timeout: float = 120) -> None:
        """Send a message and follow the conversation until its reply is final."""
        self.sent += 1
        client_id = f"m{self.sent}"
        self.pending[client_id] = text
        with contextlib.suppress(ConnectionClosed):  # else resent on reconnect
            await self._send_message(client_id, text)
        try:
            async with asyncio.timeout(timeout):
                while not self.answered(client_id):
                    await self.next_frame()
        except TimeoutError:
            raise AssertionError(
                f"no reply to {client_id} of {self.visitor}: pending {self.pending}, acked"
                f" {self.acked}, closes {self.closes}, seen {self.seen.texts()}"
            ) from None

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()
