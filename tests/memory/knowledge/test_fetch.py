"""The SSRF guard: internal addresses are refused in every spelling, before any connection.

A listener on 127.0.0.1 (and ::1 when available) records every connection it receives; the
corpus aims at it directly, through numeric spellings, DNS names and redirects from an
allowed server. The positive controls show the fetcher does connect where it may.
"""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from memory.knowledge.fetch import FetchError, safe_fetch, validate_public_url
from switchboard.supervisor import child_env

ROOT = Path(__file__).resolve().parents[3]


class Listener:
    """Accepts and counts connections on one address; never answers."""

    def __init__(self, family: socket.AddressFamily, host: str) -> None:
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = int(self.sock.getsockname()[1])
        self.connections: list[object] = []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, peer = self.sock.accept()
            except OSError:
                continue
            self.connections.append(peer)
            conn.close()

    def close(self) -> None:
        self.stopped.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    """Listens on 0.0.0.0 so 127.x, 0.0.0.0 and this host's own addresses all land here."""
    sock = Listener(socket.AF_INET, "0.0.0.0")
    yield sock
    sock.close()


@pytest.fixture
def listener6(listener: Listener) -> Iterator[Listener | None]:
    """The same port on ::1, when the machine has IPv6 loopback."""
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        sock.bind(("::1", listener.port))
        sock.close()
    except OSError:
        yield None
        return
    six = Listener.__new__(Listener)
    six.sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    six.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    six.sock.bind(("::1", listener.port))
    six.sock.listen(16)
    six.sock.settimeout(0.2)
    six.port = listener.port
    six.connections = []
    six.stopped = threading.Event()
    six.thread = threading.Thread(target=six._run, daemon=True)
    six.thread.start()
    yield six
    six.close()


class Redirector(http.server.BaseHTTPRequestHandler):
    """/go?to=URL answers 302 to URL; /page answers a small HTML page."""

    def do_GET(self) -> None:
        if self.path.startswith("/go?to="):
            self.send_response(302)
            self.send_header("Location", self.path.removeprefix("/go?to="))
            self.end_headers()
            return
        body = b"<html><head><title>Allowed</title></head><body><p>hello</p></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def allowed_server() -> Iterator[str]:
    """An HTTP server on the one endpoint the test settings allow (127.0.0.1:port)."""
    host, port = settings.FETCH_ALLOW_HOSTS[0].rsplit(":", 1)
    server = http.server.ThreadingHTTPServer((host, int(port)), Redirector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{host}:{port}"
    server.shutdown()
    server.server_close()


def direct_corpus(port: int) -> list[str]:
    p = port
    return [
        f"http://127.0.0.1:{p}/",
        f"http://127.0.0.2:{p}/",
        f"http://127.255.255.254:{p}/",
        f"http://[::1]:{p}/",
        f"http://localhost:{p}/",
        f"http://LOCALHOST.:{p}/",
        f"http://0.0.0.0:{p}/",
        f"http://0:{p}/",
        f"http://2130706433:{p}/",  # decimal 127.0.0.1
        f"http://0x7f000001:{p}/",  # hex
        f"http://0x7f.0x0.0x0.0x1:{p}/",
        f"http://0177.0.0.1:{p}/",  # octal
        f"http://017700000001:{p}/",
        f"http://127.1:{p}/",
        f"http://[::ffff:127.0.0.1]:{p}/",  # IPv4-mapped IPv6
        f"http://[::ffff:7f00:1]:{p}/",
        f"http://[0:0:0:0:0:ffff:127.0.0.1]:{p}/",
        f"http://[::127.0.0.1]:{p}/",
        f"http://[64:ff9b::127.0.0.1]:{p}/",  # NAT64
        f"http://[2002:7f00:1::]:{p}/",  # 6to4 around 127.0.0.1
        f"http://10.0.0.1:{p}/",
        f"http://10.255.255.255:{p}/",
        f"http://172.16.0.1:{p}/",
        f"http://172.31.255.254:{p}/",
        f"http://192.168.0.1:{p}/",
        f"http://192.168.255.254:{p}/",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://169.254.170.2/v2/credentials",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://100.100.100.200/latest/meta-data/",  # Alibaba metadata (shared space)
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://224.0.0.1/",
        "http://239.255.255.250:1900/",
        "http://255.255.255.255/",
        "http://[ff02::1]/",
        "http://192.0.0.8/",
        "http://198.18.0.1/",
        f"http://user:pw@127.0.0.1:{p}/",
        f"file:///etc/passwd?{p}",
        f"gopher://127.0.0.1:{p}/",
        f"ftp://127.0.0.1:{p}/",
    ]


def redirect_corpus(allowed: str, port: int) -> list[str]:
    targets = [
        f"http://127.0.0.1:{port}/",
        f"http://localhost:{port}/",
        f"http://[::1]:{port}/",
        f"http://2130706433:{port}/",
        f"http://[::ffff:127.0.0.1]:{port}/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        f"file:///etc/passwd?{port}",
    ]
    # Also a redirect chain: allowed → allowed → internal.
    chained = f"{allowed}/go?to={allowed}/go?to=http://127.0.0.1:{port}/"
    return [*(f"{allowed}/go?to={t}" for t in targets), chained]


def test_no_internal_address_is_ever_connected_to(
    listener: Listener, listener6: Listener | None, allowed_server: str
) -> None:
    corpus = direct_corpus(listener.port) + redirect_corpus(allowed_server, listener.port)
    assert len(corpus) >= 30
    outcomes = {}
    for url in corpus:
        with pytest.raises(FetchError) as refused:
            safe_fetch(url, timeout_s=3)
        outcomes[url] = refused.value
    direct = direct_corpus(listener.port)
    not_blocked = [u for u in direct if not outcomes[u].blocked]
    assert not_blocked == [], "refused only by accident (not by the guard)"
    assert all(outcomes[u].blocked for u in redirect_corpus(allowed_server, listener.port))
    assert listener.connections == []
    if listener6 is not None:
        assert listener6.connections == []


def test_the_listener_and_the_allowed_server_do_receive_connections(
    listener: Listener, allowed_server: str
) -> None:
    """Positive controls: the listener counts a real connection; the allowed endpoint is fetched."""
    with socket.create_connection(("127.0.0.1", listener.port), timeout=2):
        pass
    for _ in range(20):
        if listener.connections:
            break
        threading.Event().wait(0.05)
    assert len(listener.connections) == 1

    page = safe_fetch(f"{allowed_server}/page", timeout_s=5)
    assert page.status == 200 and b"hello" in page.content
    followed = safe_fetch(f"{allowed_server}/go?to={allowed_server}/page", timeout_s=5)
    assert followed.url == f"{allowed_server}/page"


def test_public_addresses_pass_validation_without_any_allowance() -> None:
    for url in ["http://8.8.8.8/", "https://1.1.1.1/dns", "http://[2606:4700:4700::1111]/"]:
        target = validate_public_url(url)
        assert target.address.is_global


def test_size_and_type_limits_refuse_the_page(allowed_server: str) -> None:
    with pytest.raises(FetchError, match="larger than"):
        safe_fetch(f"{allowed_server}/page", max_bytes=10)
    with pytest.raises(FetchError, match="content type"):
        safe_fetch(f"{allowed_server}/page", allowed_types=("application/pdf",))


def test_the_loopback_allowance_is_off_by_default() -> None:
    env = child_env(
        DJANGO_SETTINGS_MODULE="switchboard.settings",
        DATABASE_URL=os.environ.get("DATABASE_URL", "postgresql://x@/x?host=/nonexistent"),
        REDIS_URL=os.environ.get("REDIS_URL", "unix:///nonexistent.sock"),
    )
    env.pop("SWITCHBOARD_FETCH_ALLOW_HOSTS", None)
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; "
            "print(repr(settings.FETCH_ALLOW_HOSTS))",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "[]"
