"""Brute force on the two login pages: django-axes locks a username and an address out."""

from __future__ import annotations

import logging

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

    with caplog.at_level(logging.WARNING, logger="switchboard.security"):
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
