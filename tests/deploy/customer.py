"""An asyncio widget client that behaves like widget.js across process restarts.

It keeps a transcript (tests.widget_client.Transcript: a delta that does not continue the
text exactly fails at once), and when its socket closes it waits as widget.js does
(0.2 s plus a jitter that grows with failed attempts; a 1012 restart starts it over),
connects to the next web process, sends `resume` with the last seq it holds in final form,
and resends the messages not yet stored (the same client_id: stored once). A message counts
as stored once an `ack` or a `message` frame carries its client_id (widget.js's `upsert`).

The frames of a resume are applied as they arrive, like any other: the reply a caller waits
for may well come back final inside them, so `next_frame` returns after a reconnect (the
`resumed` frame) and the caller looks again, instead of waiting for a frame that need never
come.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import random
import time
import uuid
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.widget_client import Transcript

ORIGIN = "https://shop.example"
CLOSE_SERVICE_RESTART = 1012  # widget.js: the server is stopping, come back at once


class Customer:
    def __init__(self, ws_urls: list[str], key: str, first: int = 0) -> None:
        self.urls = ws_urls
        self.index = first
        self.key = key
        self.visitor = uuid.uuid4().hex
        self.seen = Transcript()
        self.pending: dict[str, str] = {}  # client_id -> text, until seen stored
        self.acked: dict[str, int] = {}  # client_id -> the user message's seq
        self.closes: list[tuple[str, int | None]] = []  # (url, close code) per lost socket
        self.conn: ClientConnection | None = None
        self.sent = 0
        self.attempts = 0  # widget.js's backoff counter: reset by a 1012 and by `resumed`
        self.trace: collections.deque[str] = collections.deque(maxlen=40)  # for a failure

    async def _backoff(self) -> None:
        """widget.js's retry(): 0.2 s plus full jitter up to 0.5 s x 2^attempts (30 s cap)."""
        ceiling = min(30.0, 0.5 * 2 ** min(self.attempts, 8))
        self.attempts += 1
        await asyncio.sleep(0.2 + random.random() * ceiling)

    def last_seq(self) -> int:
        high, streaming = 0, None
        for message in self.seen.messages.values():
            high = max(high, message["seq"])
            if message.get("status", "streaming") == "streaming":
                streaming = min(streaming or message["seq"], message["seq"])
        return high if streaming is None else streaming - 1

    async def connect(self, timeout: float = 60) -> dict[str, Any]:
        """Connect (to the next process after a failure) and resume; returns `resumed`."""
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
                self.trace.append(f"{time.time():.3f} {url} hello, resume {self.last_seq()}")
                await self.conn.send(json.dumps({"type": "resume", "last_seq": self.last_seq()}))
                while (frame := await self._read()) is not None and frame["type"] != "resumed":
                    pass
                if frame is None:
                    assert time.monotonic() < deadline, "no web process took the socket"
                    await self._backoff()
                    continue  # lost again while resuming: next process
                self.attempts = 0
                for client_id, text in self.pending.items():
                    await self._send_message(client_id, text)
                return frame
            except (OSError, InvalidHandshake, ConnectionClosed):
                self.index += 1  # this process is gone or going: the next one
                assert time.monotonic() < deadline, "no web process took the socket"
                await self._backoff()

    async def _read(self) -> dict[str, Any] | None:
        """The next frame, applied to the transcript; None when the socket closed."""
        assert self.conn is not None
        try:
            frame: dict[str, Any] = json.loads(await self.conn.recv())
        except ConnectionClosed as closed:
            code = closed.rcvd.code if closed.rcvd is not None else None
            self.closes.append((self.urls[self.index % len(self.urls)], code))
            self.trace.append(f"{time.time():.3f} closed {code}")
            self.index += 1  # as a proxy would: the next process
            if code == CLOSE_SERVICE_RESTART:
                self.attempts = 0
            return None
        self.trace.append(f"{time.time():.3f} {json.dumps(frame)[:160]}")
        self.seen.apply(frame)
        if frame["type"] in ("ack", "message") and frame["message"].get("client_id"):
            # widget.js's upsert: a stored message of ours (its ack, or its row in a resume)
            # is no longer pending.
            client_id = frame["message"]["client_id"]
            self.pending.pop(client_id, None)
            self.acked[client_id] = frame["message"]["seq"]
        elif frame["type"] == "error":
            raise AssertionError(f"the platform refused a frame: {frame}")
        return frame

    async def _send_message(self, client_id: str, text: str) -> None:
        assert self.conn is not None
        await self.conn.send(json.dumps({"type": "message", "client_id": client_id, "text": text}))

    async def next_frame(self) -> dict[str, Any]:
        """The next frame; after a lost socket, the reconnect's `resumed` (the resume's
        frames are in the transcript by then, so the caller's condition may hold now)."""
        frame = await self._read()
        if frame is not None:
            return frame
        await self._backoff()
        return await self.connect()

    def _sorted(self) -> list[dict[str, Any]]:
        return sorted(self.seen.messages.values(), key=lambda m: m["seq"])

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
                f" {self.acked}, closes {self.closes}, seen "
                f"{[(m['seq'], m['role'], m.get('status'), m['text']) for m in self._sorted()]}"
                "\nlast frames:\n" + "\n".join(self.trace)
            ) from None

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()
