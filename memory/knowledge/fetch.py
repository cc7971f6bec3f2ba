"""Server-side HTTP fetches of user-supplied URLs, guarded against SSRF. Reusable (webhooks).

Every hop is checked after DNS resolution: each address the name resolves to must be public
(no loopback, private, link-local, multicast, reserved, shared, IPv4-mapped/-embedded or
metadata address), and the connection then goes to the very address that was checked, so
a second DNS answer cannot swap in an internal one. Redirects are followed by hand and each
target is checked again. Size, content type and total time are bounded.

`settings.FETCH_ALLOW_HOSTS` ("host:port" entries, env SWITCHBOARD_FETCH_ALLOW_HOSTS, empty
by default) lets exactly those endpoints through; the test suite uses it for its own
127.0.0.1 server. Never set it in production unless you mean it.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx
from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_TIMEOUT_S = 15.0
MAX_REDIRECTS = 5
# Blocked in addition to everything Python does not call global.
EXTRA_BLOCKED = [
    ipaddress.ip_network("100.64.0.0/10"),  # shared address space (carrier NAT, some clouds)
    ipaddress.ip_network("192.0.0.0/24"),
    ipaddress.ip_network("198.18.0.0/15"),
    ipaddress.ip_network("fd00:ec2::254/128"),  # AWS metadata over IPv6
]


class FetchError(Exception):
    """The URL was refused or the fetch failed; `blocked` when the guard refused it."""

    def __init__(self, message: str, *, blocked: bool = False) -> None:
        super().__init__(message)
        self.blocked = blocked


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str  # as written in the URL (for Host and SNI)
    port: int
    address: IPAddress  # the checked address the connection goes to


@dataclass
class FetchResult:
    url: str  # after redirects
    status: int
    content_type: str  # lower-case, without parameters
    content: bytes


def is_public_address(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in ipaddress.ip_network("64:ff9b::/96"):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)  # NAT64
        if embedded is None and address.teredo:
            embedded = address.teredo[1]
        if embedded is not None and not is_public_address(embedded):
            return False
    if not address.is_global or address.is_multicast or address.is_reserved:
        return False
    return not any(address in network for network in EXTRA_BLOCKED)


def _allowed_endpoint(host: str, address: IPAddress, port: int) -> bool:
    allowed = set(getattr(settings, "FETCH_ALLOW_HOSTS", []))
    return f"{host}:{port}" in allowed or f"{address}:{port}" in allowed


def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchError(f"cannot resolve {host!r}") from exc
    addresses: list[IPAddress] = []
    for info in infos:
        text = str(info[4][0]).split("%", 1)[0]  # drop an IPv6 scope id
        address = ipaddress.ip_address(text)
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise FetchError(f"{host!r} has no address")
    return addresses


def validate_public_url(url: str) -> Target:
    """Check a URL and resolve it; raise FetchError(blocked=True) unless it is safe to fetch."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise FetchError(f"malformed URL {url!r}", blocked=True) from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError(f"scheme {scheme!r} is not allowed", blocked=True)
    if parts.username is not None or parts.password is not None:
        raise FetchError("credentials in URLs are not allowed", blocked=True)
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise FetchError("URL has no host", blocked=True)
    port = port or (443 if scheme == "https" else 80)
    addresses = resolve(host, port)
    for address in addresses:
        if not is_public_address(address) and not _allowed_endpoint(host, address, port):
            raise FetchError(f"{host!r} resolves to a non-public address", blocked=True)
    return Target(url=url.strip(), scheme=scheme, host=host, port=port, address=addresses[0])


def _pinned_request(client: httpx.Client, target: Target) -> httpx.Request:
    """A request that connects to the checked address while naming the original host."""
    parts = urlsplit(target.url)
    ip_host = f"[{target.address}]" if target.address.version == 6 else str(target.address)
    netloc = f"{ip_host}:{target.port}"
    pinned = parts._replace(netloc=netloc).geturl()
    host_header = target.host if ":" not in target.host else f"[{target.host}]"
    default_port = 443 if target.scheme == "https" else 80
    if target.port != default_port:
        host_header += f":{target.port}"
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    return client.build_request("GET", pinned, headers={"Host": host_header}, extensions=extensions)


def safe_fetch(
    url: str,
    *,
    allowed_types: tuple[str, ...] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> FetchResult:
    """GET a public URL: checked per hop, at most `max_bytes`, within `timeout_s` overall."""
    deadline = time.monotonic() + timeout_s
    timeout = httpx.Timeout(min(timeout_s, 10.0), connect=min(timeout_s, 5.0))
    headers = {"User-Agent": "Switchboard-fetch/1 (+knowledge base)", "Accept-Encoding": "identity"}
    with httpx.Client(
        timeout=timeout, follow_redirects=False, headers=headers, trust_env=False
    ) as client:
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            target = validate_public_url(current)
            request = _pinned_request(client, target)
            try:
                response = client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise FetchError(f"fetching {current} failed: {exc}") from exc
            try:
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    if not location:
                        raise FetchError(f"{current}: redirect without a location")
                    current = urljoin(current, location)
                    continue
                if response.status_code != 200:
                    raise FetchError(f"{current}: HTTP {response.status_code}")
                content_type = (
                    response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
                )
                if allowed_types is not None and content_type not in allowed_types:
                    raise FetchError(f"{current}: content type {content_type!r} not accepted")
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise FetchError(f"{current}: larger than {max_bytes} bytes")
                body = bytearray()
                for piece in response.iter_bytes():
                    body += piece
                    if len(body) > max_bytes:
                        raise FetchError(f"{current}: larger than {max_bytes} bytes")
                    if time.monotonic() > deadline:
                        raise FetchError(f"{current}: took longer than {timeout_s:.0f} s")
                return FetchResult(
                    url=current,
                    status=response.status_code,
                    content_type=content_type,
                    content=bytes(body),
                )
            except httpx.HTTPError as exc:
                raise FetchError(f"fetching {current} failed: {exc}") from exc
            finally:
                response.close()
        raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects")
