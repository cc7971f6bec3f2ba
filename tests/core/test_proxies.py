"""Forwarded headers count only from SWITCHBOARD_TRUSTED_PROXIES: a trusted proxy's
X-Forwarded-Proto, -Host and -For are honoured (https, the public host, the customer's address
for the lockout and the widget's limits); the same headers forged by anyone else are ignored."""

from __future__ import annotations

import ipaddress
import json
import uuid
from collections.abc import Iterator

import pytest
import redis
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from switchboard import supervisor
from tests.conftest import LOG_DIR, LivePlatform, free_port, make_bot, make_widget_key

PROXY = "10.1.0.7"  # inside the trusted 10.1.0.0/16
STRANGER = "203.0.113.9"


@pytest.fixture
def behind_proxy(settings: SettingsWrapper) -> SettingsWrapper:
    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.1.0.0/16")]
    settings.ALLOWED_HOSTS = ["support.example"]
    return settings


@pytest.mark.django_db
def test_https_and_the_public_host_come_from_the_trusted_proxy_only(
    behind_proxy: SettingsWrapper,
) -> None:
    behind_proxy.SECURE_SSL_REDIRECT = True
    forwarded = {"x-forwarded-proto": "https", "x-forwarded-host": "support.example"}

    via_proxy = Client(REMOTE_ADDR=PROXY).get(
        "/console/login/", headers={"host": "web-1.internal:8000", **forwarded}
    )
    assert via_proxy.status_code == 200, "served as https for support.example"

    forged = Client(REMOTE_ADDR=STRANGER).get(
        "/console/login/",
        headers={"host": "support.example", "x-forwarded-proto": "https",
                 "x-forwarded-host": "evil.example"},
    )  # fmt: skip
    assert forged.status_code == 301, "a forged X-Forwarded-Proto does not make plain http secure"
    assert forged["Location"] == "https://support.example/console/login/", "nor a forged host"

    plain = Client(REMOTE_ADDR=PROXY).get(
        "/console/login/",
        headers={"host": "web-1.internal:8000", "x-forwarded-host": "support.example"},
    )
    assert plain["Location"] == "https://support.example/console/login/"


@pytest.mark.django_db
def test_the_lockout_counts_the_address_the_trusted_proxy_forwarded_never_a_forged_one(
    behind_proxy: SettingsWrapper,
) -> None:
    login = {"username": f"nobody-{uuid.uuid4().hex[:6]}", "password": "wrong-password-1"}
    host = {"host": "support.example"}
    Client(REMOTE_ADDR=PROXY).post(
        "/console/login/", login, headers={**host, "x-forwarded-for": "6.6.6.6, 198.51.100.7"}
    )
    Client(REMOTE_ADDR=STRANGER).post(
        "/console/login/", login, headers={**host, "x-forwarded-for": "198.51.100.8"}
    )
    seen = set(
        AccessAttempt.objects.filter(username=login["username"]).values_list(
            "ip_address", flat=True
        )
    )
    # The rightmost hop the proxy added, not what the client wrote to its left; the stranger
    # is counted as itself.
    assert seen == {"198.51.100.7", STRANGER}


WIDGET_ORIGIN = "https://shop.example"


@pytest.fixture
def proxied_web(live_platform: LivePlatform) -> Iterator[str]:
    """A web process that trusts a proxy on 127.0.0.1 and allows 2 connects per address."""
    env = {
        **live_platform.env,
        "SWITCHBOARD_TRUSTED_PROXIES": "127.0.0.1/32",
        "SWITCHBOARD_RATE_CONNECTS_PER_IP": "2/600",
    }
    port = free_port()
    with open(LOG_DIR / "web-proxied.log", "ab") as log:
        proc = supervisor.start_web("127.0.0.1", port, env=env, log=log)
        try:
            supervisor.wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc)
            yield f"ws://127.0.0.1:{port}"
        finally:
            supervisor.stop([proc])


def _hello(ws_url: str, key: str, client_address: str) -> str:
    """The first frame's type (or error code) for a socket the proxy forwards for this client."""
    with connect(
        f"{ws_url}/ws/widget/?key={key}&visitor={uuid.uuid4().hex}",
        origin=WIDGET_ORIGIN,  # type: ignore[arg-type]
        additional_headers={"X-Forwarded-For": client_address},
        open_timeout=10,
    ) as conn:
        frame = json.loads(conn.recv(timeout=10))
        if frame["type"] == "error":
            with pytest.raises(ConnectionClosed):
                conn.recv(timeout=10)
        return str(frame.get("code") or frame["type"])


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_widget_sockets_through_the_proxy_are_limited_per_customer_address(
    proxied_web: str,
) -> None:
    key = make_widget_key(make_bot(), [WIDGET_ORIGIN]).key
    customers = [f"198.51.100.{n}" for n in (11, 12, 13)]
    try:
        # Three customers behind the one proxy: each has its own connect budget.
        assert [_hello(proxied_web, key, address) for address in customers] == ["hello"] * 3
        # The first customer's third connect is over its own budget of 2.
        assert _hello(proxied_web, key, customers[0]) == "hello"
        assert _hello(proxied_web, key, customers[0]) == "rate_limited"
    finally:
        client = redis.Redis.from_url(settings.REDIS_URL)
        for address in customers:
            for counter in client.scan_iter(f"sb:limit:*:ip:{address}"):
                client.delete(counter)
