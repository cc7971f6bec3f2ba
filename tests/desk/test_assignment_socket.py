"""Auto-assignment and presence over the real sockets: web process, Redis, Postgres."""

from __future__ import annotations

import os
import signal
import time
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from accounts.models import Organization
from bots.models import Bot
from desk import services
from desk.models import AgentPresence, AuditEvent, ConsoleSocket
from memory.conversations.models import Conversation
from switchboard import supervisor
from tests.conftest import (
    LOG_DIR,
    LivePlatform,
    free_port,
    make_bot,
    make_widget_key,
    new_visitor_id,
)
from tests.desk.console_client import ConsoleClient
from tests.desk.factories import make_agent, make_conversation, manual_queue
from tests.widget_client import WidgetClient

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _named(org: Organization, first: str, last: str = "") -> User:
    agent = make_agent(org, online=False)  # offline until a console connects
    agent.first_name, agent.last_name = first, last
    agent.save(update_fields=["first_name", "last_name"])
    return agent


def _ask_for_a_human(live_platform: LivePlatform, bot: Bot) -> tuple[WidgetClient, int]:
    """A customer opens the chat and presses "Talk to a human"; their conversation's id."""
    widget = WidgetClient(live_platform.ws_url, make_widget_key(bot).key, new_visitor_id())
    widget.resume(0)
    widget.send({"type": "handoff.request"})
    return widget, widget.conversation_id  # started by the request


def _status(status: str) -> Any:
    return lambda f: f["type"] == "conversation.status" and f["status"] == status


def _online(frame: dict[str, Any]) -> list[str]:
    return [a["name"] for a in frame["online"]]


def _fresh_queue(console: ConsoleClient) -> dict[str, Any]:
    start = len(console.frames)
    assert console.act("queue")["type"] == "ok"
    return [f for f in console.frames[start:] if f["type"] == "queue"][-1]


def _wait_for_sockets(agent: User, count: int) -> None:
    deadline = time.monotonic() + 10
    while ConsoleSocket.objects.filter(user=agent).count() != count:
        assert time.monotonic() < deadline, "the web process did not see the tab close"
        time.sleep(0.1)


def test_closing_one_of_two_tabs_keeps_the_agent_online_and_closing_both_takes_them_offline(
    live_platform: LivePlatform,
) -> None:
    bot = make_bot()
    manual_queue(bot)
    ann, bob = _named(bot.organization, "Ann"), _named(bot.organization, "Bob")
    watcher = ConsoleClient(live_platform.url, live_platform.ws_url, bob)
    assert watcher.recv()["type"] == "queue"
    tabs = [ConsoleClient(live_platform.url, live_platform.ws_url, ann) for _ in range(2)]
    watcher.recv_until(lambda f: f["type"] == "queue" and "Ann" in _online(f))

    tabs[0].close()
    _wait_for_sockets(ann, 1)
    assert "Ann" in _online(_fresh_queue(watcher))
    assert AgentPresence.objects.get(user=ann).status == "online"
    # Bob can still transfer to her, and her other tab is told.
    conversation = make_conversation(bot)
    assert watcher.act("claim", conversation_id=conversation.pk)["type"] == "ok"
    assert watcher.act("transfer", conversation_id=conversation.pk, to=ann.pk)["type"] == "ok"
    assigned = tabs[1].recv_until(lambda f: f["type"] == "assigned")[-1]
    assert assigned["conversation_id"] == conversation.pk

    tabs[1].close()
    watcher.recv_until(lambda f: f["type"] == "queue" and "Ann" not in _online(f))
    assert AgentPresence.objects.get(user=ann).status == "offline"
    # Offline, she keeps the conversation she had.
    assert Conversation.objects.get(pk=conversation.pk).assignee == ann
    watcher.close()


def test_an_auto_assigned_customer_sees_the_agents_name_and_the_agent_is_told(
    live_platform: LivePlatform,
) -> None:
    bot = make_bot()
    dana = _named(bot.organization, "Dana", "Reyes")
    console = ConsoleClient(live_platform.url, live_platform.ws_url, dana)
    assert console.recv()["type"] == "queue"

    widget, conversation_id = _ask_for_a_human(live_platform, bot)
    joined = widget.recv_until(_status("agent"))[-1]
    assert joined["agent_name"] == "Dana Reyes"
    frames = console.recv_until(lambda f: f["type"] == "assigned")
    assert frames[-1]["conversation_id"] == conversation_id
    queue = _fresh_queue(console)
    assert ([c["id"] for c in queue["mine"]], queue["waiting"]) == ([conversation_id], [])
    event = AuditEvent.objects.get(conversation_id=conversation_id)
    assert (event.actor, event.action, event.detail["to"]) == (None, "auto_assign", dana.pk)

    # She answers straight away: the customer reads it under her name.
    answer = console.act("send", conversation_id=conversation_id, text="Hi, Dana here.")
    assert answer["type"] == "ok"
    shown = widget.recv_until(lambda f: f["type"] == "message" and f["message"]["role"] == "agent")[
        -1
    ]
    assert shown["message"]["author_name"] == "Dana Reyes"
    widget.close()
    console.close()


def test_away_holds_across_tabs_and_gets_no_new_conversations_until_online(
    live_platform: LivePlatform,
) -> None:
    bot = make_bot()
    ann = _named(bot.organization, "Ann")
    first = ConsoleClient(live_platform.url, live_platform.ws_url, ann)
    assert first.recv()["presence"] == "online"
    assert first.act("presence", status="away")["type"] == "ok"

    second = ConsoleClient(live_platform.url, live_platform.ws_url, ann)
    assert second.recv()["presence"] == "away"  # what her new tab's status picker shows
    assert AgentPresence.objects.get(user=ann).status == "away"
    widget, waiting_id = _ask_for_a_human(live_platform, bot)
    assert widget.recv_until(_status("waiting"))[-1]["position"] == 1
    assert Conversation.objects.get(pk=waiting_id).assignee is None

    assert second.act("presence", status="online")["type"] == "ok"
    assert second.recv_until(lambda f: f["type"] == "assigned")[-1]["conversation_id"] == (
        waiting_id
    )
    first.recv_until(lambda f: f["type"] == "queue" and f["presence"] == "online")
    widget.recv_until(_status("agent"))
    widget.close()
    first.close()
    second.close()


def test_a_tab_on_a_web_process_that_crashed_stops_counting_after_the_expiry(
    live_platform: LivePlatform,
) -> None:
    bot = make_bot()
    ann, bob = _named(bot.organization, "Ann"), _named(bot.organization, "Bob")
    port = free_port()
    with open(LOG_DIR / "web-crash.log", "ab") as log:
        doomed = supervisor.start_web("127.0.0.1", port, env=live_platform.env, log=log)
        try:
            supervisor.wait_http(f"http://127.0.0.1:{port}/healthz", proc=doomed)
            tab = ConsoleClient(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", ann)
            assert tab.recv()["type"] == "queue"
        finally:
            os.killpg(doomed.pid, signal.SIGKILL)  # no disconnect handler runs
            doomed.wait()
    # Nothing told the database that her only tab is gone.
    assert AgentPresence.objects.get(user=ann).status == "online"
    assert ConsoleSocket.objects.filter(user=ann).count() == 1

    # A minute without beats (moved back in time rather than waited out): she gets nothing.
    silent = timezone.now() - timedelta(seconds=ConsoleSocket.EXPIRES_S + 5)
    ConsoleSocket.objects.filter(user=ann).update(seen_at=silent)
    conversation = make_conversation(bot)
    assert services.request_handoff(conversation.pk, "customer_asked")
    assert Conversation.objects.get(pk=conversation.pk).assignee is None

    # The next console to connect sweeps her tab away: offline for everyone; Bob, online
    # now, gets the conversation.
    watcher = ConsoleClient(live_platform.url, live_platform.ws_url, bob)
    queue = watcher.recv()
    assert (_online(queue), [c["id"] for c in queue["mine"]]) == (["Bob"], [conversation.pk])
    assert AgentPresence.objects.get(user=ann).status == "offline"
    assert not ConsoleSocket.objects.filter(user=ann).exists()
    watcher.close()
