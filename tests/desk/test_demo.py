"""The demo logins printed by seed_demo work, and seeding twice changes nothing."""

from __future__ import annotations

import pytest
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from accounts.models import Membership
from desk.demo import DEMO_USERS, seed_demo_desk
from desk.models import CannedResponse
from tests.conftest import make_bot

pytestmark = pytest.mark.django_db


def test_demo_agent_and_admin_log_in_to_the_console_with_the_published_passwords(
    settings: SettingsWrapper,
) -> None:
    settings.DEMO = True
    bot = make_bot()
    seed_demo_desk(bot.organization, bot)
    seed_demo_desk(bot.organization, bot)
    assert Membership.objects.filter(organization=bot.organization).count() == 2
    assert CannedResponse.objects.filter(organization=bot.organization).count() == 3
    for username, password, _name, role in DEMO_USERS:
        client = Client()
        response = client.post("/console/login/", {"username": username, "password": password})
        assert response.status_code == 302, username
        assert client.get("/console/").status_code == 200
        assert client.get("/console/audit/").status_code == (200 if role == "admin" else 404)


def test_outside_demo_mode_the_seed_makes_no_login_and_the_public_passwords_are_refused(
    settings: SettingsWrapper,
) -> None:
    settings.DEMO = False
    bot = make_bot()
    said = seed_demo_desk(bot.organization, bot)
    assert "demo mode is off" in said
    assert not Membership.objects.filter(organization=bot.organization).exists()
    for username, password, _name, _role in DEMO_USERS:
        response = Client().post("/console/login/", {"username": username, "password": password})
        assert response.status_code == 401, username


def test_in_demo_mode_the_seed_says_loudly_that_public_logins_exist(
    settings: SettingsWrapper,
) -> None:
    settings.DEMO = True
    bot = make_bot()
    said = seed_demo_desk(bot.organization, bot)
    assert "DEMO MODE" in said and "PUBLIC passwords" in said
    assert all(f"{u} / {p}" in said for u, p, _, _ in DEMO_USERS)
