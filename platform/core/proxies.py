"""Forwarded headers (X-Forwarded-Proto, -Host, -For) honoured only from configured proxies.

A reverse proxy in front of the web processes (docs/deploy.md) says which scheme, host and
client a request came from; anyone else could say the same to pass as https, as another
host or as another address (the lockout, throttles and flood limits count per address).
`settings.TRUSTED_PROXIES` (SWITCHBOARD_TRUSTED_PROXIES) lists the proxies' addresses or
networks: from them the headers count; from every other peer they are removed before any
other code reads them. uvicorn's own proxy handling is off (`--no-proxy-headers`) so that
the socket peer reaches us unchanged.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
FORWARDED_META = ("HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_FOR")
FORWARDED_HEADERS = {b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-for"}


def is_trusted(address: str | None, networks: Sequence[IPNetwork]) -> bool:
    if not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


def forwarded_client(peer: str, forwarded_for: Iterable[str], networks: Sequence[IPNetwork]) -> str:
    """The client address from a trusted peer's X-Forwarded-For: the rightmost hop that is not
    itself a trusted proxy (hops to its left were written by the client and prove nothing).
    A malformed hop ends the walk at the last good one."""
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break
        client = hop
        if not is_trusted(hop, networks):
            break
    return client


class TrustedProxyMiddleware:
    """First in MIDDLEWARE: keeps the forwarded headers of a trusted proxy (then Django's
    SECURE_PROXY_SSL_HEADER and USE_X_FORWARDED_HOST read them, and REMOTE_ADDR becomes the
    client's address), and drops them from anyone else."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        meta = request.META
        networks = settings.TRUSTED_PROXIES
        peer = meta.get("REMOTE_ADDR")
        if is_trusted(peer, networks):
            forwarded_for = meta.get("HTTP_X_FORWARDED_FOR")
            if peer and forwarded_for:
                meta["REMOTE_ADDR"] = forwarded_client(peer, [forwarded_for], networks)
        else:
            for name in FORWARDED_META:
                meta.pop(name, None)
        return self.get_response(request)


Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class TrustedProxySocketMiddleware:
    """The same rule for websockets (asgi.py): the scope's client becomes the address a trusted
    proxy forwarded, so the widget's per-address limits count customers, not the proxy."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        networks = settings.TRUSTED_PROXIES
        client = scope.get("client")
        peer = str(client[0]) if client else None
        headers: list[tuple[bytes, bytes]] = list(scope.get("headers", []))
        if peer and is_trusted(peer, networks):
            forwarded = [v.decode("latin-1") for k, v in headers if k == b"x-forwarded-for"]
            proto = [v.decode("latin-1").strip() for k, v in headers if k == b"x-forwarded-proto"]
            scope = dict(scope)
            if forwarded:
                scope["client"] = (forwarded_client(peer, forwarded, networks), 0)
            if proto and proto[-1] in {"https", "wss"}:
                scope["scheme"] = "wss"
        else:
            scope = {**scope, "headers": [(k, v) for k, v in headers if k not in FORWARDED_HEADERS]}
        await self.app(scope, receive, send)
