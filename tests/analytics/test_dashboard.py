"""Dashboard access and freshness: owners and admins only; new messages reach the rollups."""

from __future__ import annotations

import time

import pytest
from django.test import Client
from django.utils import timezone

from analytics.models import HourlyRollup
from analytics.rollups import floor_hour, rebuild, refresh_dirty
from analytics.selectors import summary
from memory.conversations.services import open_conversation, record_user_message
from tests.conftest import LivePlatform, new_visitor_id

from .seed import seed_history


@pytest.mark.django_db
def test_agents_and_strangers_get_404_and_anonymous_visitors_the_login_page() -> None:
    history = seed_history(days=1, conversations=4)
    client = Client()
    response = client.get("/dashboard/")
    assert response.status_code == 302 and response["Location"].startswith("/console/login/")
    client.force_login(history.agent)
    assert client.get("/dashboard/").status_code == 404
    other = seed_history(days=1, conversations=2)
    client.force_login(other.owner)
    # An owner elsewhere asking for this org by id sees their own organization instead.
    page = client.get(f"/dashboard/?org={history.org.pk}")
    assert page.status_code == 200
    assert page.context["scope"].organization == other.org
    client.force_login(history.owner)
    assert client.get("/dashboard/").status_code == 200


@pytest.mark.django_db
def test_rebuilding_twice_gives_the_same_rollups() -> None:
    history = seed_history(days=2, conversations=10)
    start, end = history.first_day, floor_hour(timezone.now()) + timezone.timedelta(hours=1)
    rebuild(history.org.pk, start, end)
    first = sorted(
        HourlyRollup.objects.filter(organization=history.org).values_list(
            "hour", "conversations", "user_messages", "tokens"
        )
    )
    rebuild(history.org.pk, start, end)
    second = sorted(
        HourlyRollup.objects.filter(organization=history.org).values_list(
            "hour", "conversations", "user_messages", "tokens"
        )
    )
    assert first == second and first


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_new_message_reaches_the_dashboard_through_the_background_worker(
    live_platform: LivePlatform,
) -> None:
    history = seed_history(days=1, conversations=2)
    refresh_dirty()
    today = timezone.now().date()
    before = summary(history.org.pk, today, today)
    conversation = open_conversation(history.bots[0], new_visitor_id())
    record_user_message(conversation, "c1", "Is my card on its way?")
    # No direct call: the signal marked the hour and queued `refresh_rollups` on the worker.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        after = summary(history.org.pk, today, today)
        if after["conversations"] == before["conversations"] + 1:
            break
        time.sleep(0.5)
    assert after["conversations"] == before["conversations"] + 1
    assert after["messages"] == before["messages"] + 1
