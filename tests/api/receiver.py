"""A webhook receiver on 127.0.0.1 that records what it is sent; can be stopped and restarted."""

from __future__ import annotations

import contextlib
import http.server
import threading
from dataclasses import dataclass, field


@dataclass
class Received:
    delivery_id: str
    event: str
    timestamp: str
    signature: str
    body: bytes


@dataclass
class Receiver:
    host: str
    port: int
    received: list[Received] = field(default_factory=list)
    _server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks/switchboard"

    def start(self) -> None:
        received = self.received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                received.append(
                    Received(
                        delivery_id=self.headers.get("X-Switchboard-Delivery", ""),
                        event=self.headers.get("X-Switchboard-Event", ""),
                        timestamp=self.headers.get("X-Switchboard-Timestamp", ""),
                        signature=self.headers.get("X-Switchboard-Signature", ""),
                        body=body,
                    )
                )
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer((self.host, self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@dataclass
class HostileReceiver:
    """A receiver that misbehaves on purpose: `bomb` (a gzip bomb as its answer), `drip` (its
    answer one byte at a time, forever), `fail` (500), `hold` (answers after `hold_s`) or `ok`."""

    host: str
    port: int
    mode: str = "ok"
    hold_s: float = 0.0
    requests: int = 0
    bytes_sent: int = 0
    _server: http.server.ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks/switchboard"

    def start(self) -> None:
        import gzip
        import time

        outer = self
        member = gzip.compress(b"\0" * (10 * 1024 * 1024))
        bomb = member * 5000  # ~50 MB on the wire, ~50 GB once inflated

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.requests += 1
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self._answer()

            def _answer(self) -> None:
                if outer.mode == "fail":
                    self.send_response(500)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if outer.mode == "hold":
                    time.sleep(outer.hold_s)
                self.send_response(200)
                if outer.mode == "bomb":
                    self.send_header("Content-Encoding", "gzip")
                    self.send_header("Content-Length", str(len(bomb)))
                    self.end_headers()
                    view = memoryview(bomb)
                    for start in range(0, len(bomb), 65536):
                        self.wfile.write(view[start : start + 65536])
                        outer.bytes_sent += len(view[start : start + 65536])
                    return
                if outer.mode == "drip":
                    self.send_header("Content-Length", "100000")
                    self.end_headers()
                    for _ in range(100000):
                        self.wfile.write(b"x")
                        self.wfile.flush()
                        time.sleep(0.2)
                    return
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
