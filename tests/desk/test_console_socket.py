"""The console socket end to end: widget ↔ Postgres ↔ Redis ↔ console, real worker (SmolLM2)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from desk.models import Csat, Handoff, Note
from desk.services import claim_conversation
from memory.conversations.models import Conversation, Message
from memory.conversations.services import record_user_message
from tests.conftest import LivePlatform, make_bot, make_widget_key, new_visitor_id
from tests.desk.console_client import ConsoleClient
from tests.desk.factories import make_agent, make_conversation, manual_queue
from tests.widget_client import WidgetClient, is_final_reply

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _wait(client: WidgetClient, predicate: Any, timeout: float = 60) -> list[dict[str, Any]]:
    try:
        return client.recv_until(predicate, timeout=timeout)
    except TimeoutError:
        raise AssertionError(f"timed out; frames so far: {client.frames[-12:]}") from None


def _status(frame: dict[str, Any], status: str) -> bool:
    return frame["type"] == "conversation.status" and frame["status"] == status


def test_handoff_claim_reply_hand_back_resolve_and_csat_over_both_sockets(
    live_platform: LivePlatform,
) -> None:
    bot = make_bot(max_tokens=32)
    manual_queue(bot)  # the agent claims it (auto-assignment: tests/desk/test_assignment*.py)
    key = make_widget_key(bot)
    agent = make_agent(bot.organization)
    console = ConsoleClient(live_platform.url, live_platform.ws_url, agent)
    assert console.recv()["type"] == "queue"
    widget = WidgetClient(live_platform.ws_url, key.key, new_visitor_id())
    widget.resume(0)

    widget.send({"type": "handoff.request"})  # asking for a person starts the conversation
    waiting = _wait(widget, lambda f: _status(f, "waiting"))[-1]
    conversation_id = widget.conversation_id
    assert waiting["position"] == 1 and waiting["offline"] is False
    queue = console.recv_until(
        lambda f: f["type"] == "queue" and any(c["id"] == conversation_id for c in f["waiting"])
    )[-1]
    assert queue["waiting"][0]["reason"] == "customer_asked"

    assert console.act("watch", conversation_id=conversation_id)["type"] == "ok"
    assert console.act("claim", conversation_id=conversation_id)["type"] == "ok"
    joined = _wait(widget, lambda f: _status(f, "agent"))[-1]
    assert joined["agent_name"] == agent.first_name

    # Typing both ways; an internal note never reaches the widget.
    console.act("typing", conversation_id=conversation_id, on=True)
    assert _wait(widget, lambda f: f["type"] == "typing")[-1] == {
        "type": "typing",
        "who": "agent",
        "on": True,
        "seq": widget.frames[-1]["seq"],
    }
    widget.send({"type": "typing", "on": True})
    assert console.recv_until(lambda f: f["type"] == "typing")[-1]["who"] == "customer"
    assert console.act("note", conversation_id=conversation_id, text="VIP, be kind")["type"] == "ok"
    console.recv_until(lambda f: f["type"] == "note")

    answer = console.act(
        "send", conversation_id=conversation_id, text="Hi, Ann here. How can I help?"
    )
    assert answer["type"] == "ok"
    shown = _wait(widget, lambda f: f["type"] == "message" and f["message"]["role"] == "agent")
    agent_message = shown[-1]["message"]
    assert agent_message["text"] == "Hi, Ann here. How can I help?"
    assert agent_message["author_name"] == agent.first_name

    # While the agent owns it, the customer's message gets no bot reply.
    widget.send({"type": "message", "client_id": "c1", "text": "My card was charged twice."})
    _wait(widget, lambda f: f["type"] == "ack")
    console.recv_until(lambda f: f["type"] == "message" and f["message"]["role"] == "user")

    assert console.act("hand_back", conversation_id=conversation_id)["type"] == "ok"
    _wait(widget, lambda f: _status(f, "bot"))
    widget.send({"type": "message", "client_id": "c2", "text": "What are your opening hours?"})
    reply = _wait(widget, is_final_reply, timeout=300)[-1]["message"]
    assert reply["role"] == "bot" and reply["text"]

    # Back to an agent (free text this time), then resolved: the widget is asked for CSAT.
    widget.send({"type": "message", "client_id": "c3", "text": "Can I talk to a human please?"})
    _wait(widget, lambda f: _status(f, "waiting"))
    assert console.act("claim", conversation_id=conversation_id)["type"] == "ok"
    assert console.act("resolve", conversation_id=conversation_id)["type"] == "ok"
    frames = _wait(widget, lambda f: f["type"] == "csat.request")
    assert any(_status(f, "resolved") for f in frames)
    widget.send({"type": "csat", "score": 5, "comment": "Great help"})
    assert _wait(widget, lambda f: f["type"] == "csat.saved")[-1]["score"] == 5

    csat = Csat.objects.get(conversation_id=conversation_id)
    assert (csat.score, csat.comment, csat.agent_id) == (5, "Great help", agent.pk)
    conversation = Conversation.objects.get(pk=conversation_id)
    assert conversation.status == "resolved"
    assert not any(f["type"] == "note" or "VIP" in str(f) for f in widget.frames)
    assert Note.objects.filter(conversation_id=conversation_id).count() == 1
    roles = list(
        Message.objects.filter(conversation_id=conversation_id).values_list("role", flat=True)
    )
    assert roles[:2] == ["agent", "user"] and "bot" in roles
    # No bot reply to the message sent while the agent owned the conversation.
    assert not Message.objects.filter(reply_to__client_id="c1").exists()
    widget.close()
    console.close()


def test_the_handoff_summary_reaches_the_watching_agent_at_once_each_line_by_role(
    live_platform: LivePlatform,
) -> None:
    bot = make_bot(max_tokens=32)
    manual_queue(bot)
    key = make_widget_key(bot)
    agent = make_agent(bot.organization)
    console = ConsoleClient(live_platform.url, live_platform.ws_url, agent)
    assert console.recv()["type"] == "queue"
    widget = WidgetClient(live_platform.ws_url, key.key, new_visitor_id())
    widget.resume(0)
    widget.send({"type": "message", "client_id": "m1", "text": "My card payment was declined."})
    widget.recv_until(lambda f: f["type"] == "ack")  # the first message starts the conversation
    conversation_id = widget.conversation_id
    assert console.act("watch", conversation_id=conversation_id)["type"] == "ok"
    reply = _wait(widget, is_final_reply, timeout=300)[-1]["message"]
    assert reply["text"].strip()
    widget.send({"type": "message", "client_id": "m2", "text": "I want to speak to an agent"})
    _wait(widget, lambda f: _status(f, "waiting"), timeout=30)

    # Written in the handoff's own transaction: there once the customer hears they wait.
    handoff = Handoff.objects.get(conversation_id=conversation_id)
    assert handoff.summary_status == "done" and handoff.reason == "customer_asked"
    frame = console.recv_until(
        lambda f: f["type"] == "summary" and f["conversation_id"] == conversation_id
    )[-1]
    assert (frame["summary"], frame["summary_status"], frame["reason"]) == (
        handoff.summary,
        "done",
        "customer_asked",
    )
    lines = handoff.summary.splitlines()
    assert lines[:2] == [
        "Customer asked: “My card payment was declined.”",
        "Customer asked: “I want to speak to an agent”",
    ]
    answered = [line for line in lines if line.startswith("Bot answered: ")]
    assert len(answered) == 1
    assert answered[0].startswith("Bot answered: “" + " ".join(reply["text"].split())[:40])
    assert "Handed off because: the customer asked for a person" in lines
    # The customer never sees the summary.
    assert not any(handoff.summary[:30] in str(f) for f in widget.frames)
    widget.close()
    console.close()


def test_takeover_while_the_bot_is_streaming_stops_the_reply(
    live_platform: LivePlatform,
) -> None:
    bot = make_bot(max_tokens=400, temperature=0.7)
    key = make_widget_key(bot)
    agent = make_agent(bot.organization)
    console = ConsoleClient(live_platform.url, live_platform.ws_url, agent)
    widget = WidgetClient(live_platform.ws_url, key.key, new_visitor_id())
    widget.resume(0)
    widget.send(
        {
            "type": "message",
            "client_id": "long",
            "text": "Write a long, detailed essay about the history of banking in Europe.",
        }
    )
    widget.recv_until(lambda f: f["type"] == "ack")  # the first message starts the conversation
    conversation_id = widget.conversation_id
    assert console.act("watch", conversation_id=conversation_id)["type"] == "ok"
    before = _wait(widget, lambda f: f["type"] == "reply.delta", timeout=300)
    reply_id = before[-1]["message_id"]

    # The agent watches the bot's reply stream live in the console, then takes over.
    console.recv_until(
        lambda f: f["type"] == "reply.delta" and f["message_id"] == reply_id, timeout=120
    )
    assert console.act("claim", conversation_id=conversation_id)["type"] == "ok"
    frames = _wait(widget, lambda f: _status(f, "agent"), timeout=30)
    seen = "".join(f["text"] for f in before + frames if f["type"] == "reply.delta")
    # Listen a while longer: the worker would still be generating (400 tokens).
    after: list[dict[str, Any]] = []
    end = time.monotonic() + 6
    while time.monotonic() < end:
        try:
            after.append(widget.recv(timeout=max(0.1, end - time.monotonic())))
        except TimeoutError:
            break
    assert not [f for f in after if f["type"] == "reply.delta"], after
    bot_after = [f for f in after if f["type"] == "message" and f["message"]["role"] == "bot"]
    assert all(f["message"]["status"] != "streaming" for f in bot_after)

    reply = Message.objects.get(pk=reply_id)
    assert reply.status == "final" and reply.error.startswith("stopped")
    stored_then = reply.text
    time.sleep(2)
    reply.refresh_from_db()
    assert reply.text == stored_then, "the worker kept writing after the takeover"
    assert reply.completion_tokens is None  # the worker never finished it
    # The customer saw (at most) the text stored at the cut; nothing beyond it.
    assert stored_then.startswith(seen.strip()[: len(seen.strip())])
    assert len(seen) > 0
    widget.close()
    console.close()


def test_a_drafted_reply_reaches_only_the_agent_and_is_never_sent_on_its_own(
    live_platform: LivePlatform,
) -> None:
    from desk.models import AgentPresence

    bot = make_bot(max_tokens=32)
    manual_queue(bot)
    key = make_widget_key(bot)
    agent = make_agent(bot.organization, online=False)
    widget = WidgetClient(live_platform.ws_url, key.key, new_visitor_id())
    widget.resume(0)
    widget.send(
        {"type": "message", "client_id": "d1", "text": "I need a human, my card is blocked"}
    )
    _wait(widget, lambda f: _status(f, "waiting"))
    conversation_id = widget.conversation_id

    console = ConsoleClient(live_platform.url, live_platform.ws_url, agent)
    console.recv()
    assert AgentPresence.objects.get(user=agent).status == "online"  # connecting = online
    assert console.act("claim", conversation_id=conversation_id)["type"] == "ok"
    stored_before = Message.objects.filter(conversation_id=conversation_id).count()
    assert console.act("draft", conversation_id=conversation_id)["type"] == "ok"
    draft = console.recv_until(lambda f: f["type"] == "draft", timeout=300)[-1]
    assert draft["conversation_id"] == conversation_id and len(draft["text"].strip()) > 5

    time.sleep(1)
    assert Message.objects.filter(conversation_id=conversation_id).count() == stored_before
    widget.send({"type": "ping"})
    later = _wait(widget, lambda f: f["type"] == "pong")
    assert not any(draft["text"][:20] in str(f) for f in widget.frames + later)
    assert console.act("presence", status="away")["type"] == "ok"
    assert AgentPresence.objects.get(user=agent).status == "away"
    console.close()
    deadline = time.monotonic() + 10
    while AgentPresence.objects.get(user=agent).status != "offline":
        assert time.monotonic() < deadline, "presence did not go offline on disconnect"
        time.sleep(0.2)
    widget.close()


def test_waiting_customers_see_their_place_in_line_move_up_when_one_is_claimed(
    live_platform: LivePlatform,
) -> None:
    bot = make_bot()
    manual_queue(bot)
    key = make_widget_key(bot)
    agent = make_agent(bot.organization)
    first = WidgetClient(live_platform.ws_url, key.key, new_visitor_id())
    second = WidgetClient(live_platform.ws_url, key.key, new_visitor_id())
    for widget, place in ((first, 1), (second, 2)):
        widget.resume(0)
        widget.send({"type": "handoff.request"})
        assert _wait(widget, lambda f: _status(f, "waiting"))[-1]["position"] == place

    console = ConsoleClient(live_platform.url, live_platform.ws_url, agent)
    assert console.act("claim", conversation_id=first.conversation_id)["type"] == "ok"
    assert _wait(first, lambda f: _status(f, "agent"))[-1]["agent_name"] == agent.first_name
    assert _wait(second, lambda f: _status(f, "waiting"))[-1]["position"] == 1
    console.close()
    first.close()
    second.close()


def test_watching_a_conversation_sends_its_status_now_so_a_claim_just_before_is_not_missed(
    live_platform: LivePlatform,
) -> None:
    """The console page renders, then watches: a status change in between used to reach the
    page never (its reply box and attach control stayed disabled until a reload)."""
    bot = make_bot()
    manual_queue(bot)
    agent = make_agent(bot.organization)
    conversation = make_conversation(bot, status="waiting")
    console = ConsoleClient(live_platform.url, live_platform.ws_url, agent)
    claim_conversation(agent, conversation.pk)  # after the page's render, before its watch

    console.send({"type": "watch", "conversation_id": conversation.pk})
    frames = console.recv_until(lambda f: f["type"] == "ok" and f["action"] == "watch")
    statuses = [f for f in frames if f["type"] == "conversation.status"]
    assert [(f["status"], f["agent_name"], f["conversation_id"]) for f in statuses] == [
        ("agent", agent.first_name, conversation.pk)
    ]
    console.close()


def test_watching_a_conversation_sends_its_newest_messages_so_one_stored_just_before_shows(
    live_platform: LivePlatform,
) -> None:
    """A message stored (or a file's text read) between the page's render and its watch, or
    while its socket was down, reaches the page with the watch: it upserts them by id."""
    bot = make_bot()
    manual_queue(bot)
    agent = make_agent(bot.organization)
    conversation = make_conversation(bot, status="waiting")
    console = ConsoleClient(live_platform.url, live_platform.ws_url, agent)
    late, _created = record_user_message(conversation, "late-1", "Are you still there?")

    console.send({"type": "watch", "conversation_id": conversation.pk})
    frames = console.recv_until(lambda f: f["type"] == "ok" and f["action"] == "watch")
    shown = [f["message"] for f in frames if f["type"] == "message"]
    assert shown and shown[-1]["id"] == late.pk and shown[-1]["text"] == "Are you still there?"
    assert [m["seq"] for m in shown] == sorted(m["seq"] for m in shown)
    console.close()
