"""Presence per agent, not per socket: tabs are counted, away sticks, dead tabs expire."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from desk import presence, services
from desk.models import AgentPresence, ConsoleSocket
from desk.selectors import queue_snapshot
from memory.conversations.models import Conversation
from tests.conftest import make_bot
from tests.desk.factories import make_agent, make_conversation, open_console_tab
from tests.desk.threads import at_once

pytestmark = pytest.mark.django_db(transaction=True)


def _status(agent: User) -> str:
    return AgentPresence.objects.get(user=agent).status


def _online_names(viewer: User) -> list[str]:
    return [a["name"] for a in queue_snapshot(viewer)["online"]]


def test_the_agent_goes_offline_only_when_the_last_tab_closes() -> None:
    bot = make_bot()
    agent = make_agent(bot.organization, online=False)
    agent.first_name = "Ann"
    agent.save(update_fields=["first_name"])
    colleague = make_agent(bot.organization, online=False)
    tabs = [open_console_tab(agent), open_console_tab(agent)]
    assert _status(agent) == "online" and "Ann" in _online_names(colleague)

    presence.console_closed(agent.pk, tabs[0])
    assert _status(agent) == "online" and "Ann" in _online_names(colleague)
    presence.console_closed(agent.pk, tabs[1])
    assert _status(agent) == "offline" and "Ann" not in _online_names(colleague)


def test_two_tabs_closing_at_the_same_moment_leave_the_agent_offline() -> None:
    agent = make_agent(make_bot().organization, online=False)
    for _round in range(10):
        tabs = [open_console_tab(agent), open_console_tab(agent)]
        closed = at_once(*(lambda tab=tab: presence.console_closed(agent.pk, tab) for tab in tabs))
        assert closed == [None, None]
        assert _status(agent) == "offline"
        assert not ConsoleSocket.objects.filter(user=agent).exists()


def test_away_holds_in_every_tab_and_across_logins_until_the_agent_picks_online() -> None:
    bot = make_bot()
    agent = make_agent(bot.organization, online=False)
    first = open_console_tab(agent)
    conversation = make_conversation(bot)
    assert services.request_handoff(conversation.pk, "customer_asked")
    assert Conversation.objects.get(pk=conversation.pk).assignee == agent

    presence.choose_presence(agent, "away")
    second = open_console_tab(agent)
    assert _status(agent) == "away" and queue_snapshot(agent)["presence"] == "away"
    for tab in (first, second):
        presence.console_closed(agent.pk, tab)
    assert _status(agent) == "offline"
    open_console_tab(agent)  # the next day
    assert _status(agent) == "away"
    # Away or offline, the agent keeps the conversation they had.
    assert Conversation.objects.get(pk=conversation.pk).assignee == agent

    presence.choose_presence(agent, "online")
    assert _status(agent) == "online" and queue_snapshot(agent)["presence"] == "online"


def test_a_tab_left_behind_by_a_crashed_web_process_stops_counting() -> None:
    bot = make_bot()
    crashed = make_agent(bot.organization, online=False)
    crashed.first_name = "Crashed"
    crashed.save(update_fields=["first_name"])
    tab = open_console_tab(crashed)
    # The process holding the socket died: nobody beats the row any more.
    silent_since = timezone.now() - timedelta(seconds=ConsoleSocket.EXPIRES_S + 5)
    ConsoleSocket.objects.filter(channel_name=tab).update(seen_at=silent_since)

    conversation = make_conversation(bot)
    assert services.request_handoff(conversation.pk, "customer_asked")
    assert Conversation.objects.get(pk=conversation.pk).assignee is None

    # The next console to connect sweeps it: the agent shows offline to everyone.
    colleague = make_agent(bot.organization, online=False)
    colleague_tab = open_console_tab(colleague)
    assert _status(crashed) == "offline"
    assert "Crashed" not in _online_names(colleague)
    assert not ConsoleSocket.objects.filter(channel_name=tab).exists()
    # The colleague who just came online got the waiting conversation.
    assert Conversation.objects.get(pk=conversation.pk).assignee == colleague

    # A beat keeps a tab counted; a tab swept while its process stalled comes back with it.
    ConsoleSocket.objects.filter(channel_name=colleague_tab).update(seen_at=silent_since)
    presence.console_seen(colleague, colleague_tab)
    assert ConsoleSocket.objects.get(channel_name=colleague_tab).seen_at > silent_since
    ConsoleSocket.objects.filter(channel_name=colleague_tab).update(seen_at=silent_since)
    presence.sweep_expired_sockets()
    assert _status(colleague) == "offline"
    presence.console_seen(colleague, colleague_tab)
    assert _status(colleague) == "online"
