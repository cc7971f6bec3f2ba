"""Brute force on the two login pages: django-axes locks a username and an address out."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

LIMIT = 5


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/admin/login/", "/console/login/"])
def test_failed_logins_lock_out_the_right_password_and_the_lockout_is_logged(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    User.objects.create_user("target", password="right-pass-1", is_staff=True)
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for _attempt in range(LIMIT - 1):
        response = attacker.post(url, {"username": "target", "password": "guess"})
        assert response.status_code in {200, 401}, "a wrong password is refused, not locked yet"
        assert "_auth_user_id" not in attacker.session
    # The LIMIT-th failure locks, and is answered with the lockout.
    assert attacker.post(url, {"username": "target", "password": "guess"}).status_code == 429

    with caplog.at_level(logging.WARNING, logger="core.security"):
        response = attacker.post(url, {"username": "target", "password": "right-pass-1"})

    assert response.status_code == 429
    assert b"Too many failed attempts" in response.content
    assert "_auth_user_id" not in attacker.session
    assert any(
        "login locked out" in r.getMessage() and "203.0.113.7" in r.getMessage()
        for r in caplog.records
    )
    # Per username: the owner from their own address is refused too until the cool-off.
    owner = Client(REMOTE_ADDR="198.51.100.2")
    response = owner.post(url, {"username": "target", "password": "right-pass-1"})
    assert response.status_code == 429
    assert "_auth_user_id" not in owner.session


@pytest.mark.django_db
def test_a_spray_over_many_usernames_locks_the_address() -> None:
    User.objects.create_user("victim", password="right-pass-1", is_staff=True)
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for n in range(LIMIT):
        attacker.post("/admin/login/", {"username": f"guess-{n}", "password": "guess"})
    response = attacker.post("/admin/login/", {"username": "victim", "password": "right-pass-1"})
    assert response.status_code == 429
    assert "_auth_user_id" not in attacker.session
    # The address was counted, not a header the client chose.
    spoofed = Client(REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="192.0.2.1")
    response = spoofed.post("/admin/login/", {"username": "victim", "password": "right-pass-1"})
    assert response.status_code == 429


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/admin/login/", "/console/login/"])
def test_login_posts_from_one_address_are_rate_limited_before_any_password_is_checked(
    url: str, settings: Any
) -> None:
    settings.LOGIN_POST_RATE = "3/m"
    User.objects.create_user("busy", password="right-pass-1", is_staff=True)
    address = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    client = Client(REMOTE_ADDR=address)
    for n in range(3):
        assert client.post(url, {"username": f"nobody-{n}", "password": "x"}).status_code != 429
    response = client.post(url, {"username": "busy", "password": "right-pass-1"})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    # Reading the page is not counted; another address is not limited.
    assert client.get(url).status_code == 200
    other = Client(REMOTE_ADDR="192.0.2.77")
    assert other.post(url, {"username": "busy", "password": "right-pass-1"}).status_code == 302


@pytest.mark.django_db
def test_api_key_guessing_from_one_address_is_rate_limited(settings: Any) -> None:
    from tests.api.factories import bearer, make_tenant

    settings.API_AUTH_FAILURE_RATE = "3/m"
    tenant = make_tenant()
    guesser = Client(REMOTE_ADDR="203.0.113.50")
    for n in range(3):
        wrong = guesser.get("/api/conversations", **bearer(f"sb_wrong{n}"))
        assert wrong.status_code == 401
    # Now even a right key is refused from that address for the window...
    assert guesser.get("/api/conversations", **bearer(tenant.read_key)).status_code == 429
    # ...and answered from anywhere else.
    honest = Client(REMOTE_ADDR="192.0.2.88")
    assert honest.get("/api/conversations", **bearer(tenant.read_key)).status_code == 200
