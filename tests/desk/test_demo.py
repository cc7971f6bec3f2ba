"""The demo logins printed by seed_demo work, and seeding twice changes nothing."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import Membership
from desk.demo import DEMO_USERS, seed_demo_desk
from desk.models import CannedResponse
from tests.conftest import make_bot

pytestmark = pytest.mark.django_db


def test_demo_agent_and_admin_log_in_to_the_console_with_the_published_passwords() -> None:
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
