"""A webhook receiver on 127.0.0.1 that records what it is sent; can be stopped and restarted."""

from __future__ import annotations

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
