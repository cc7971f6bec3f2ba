"""Floods on the widget socket, per client address and per organization, through a real web
process started with small limits (docs/protocol.md, Limits): connects, new conversations
and every frame type are bounded; the socket stays open and a refused frame stores nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from api.models import WebhookDelivery, WebhookEndpoint
from desk.models import OfflineMessage
from memory.conversations.models import Contact, Conversation
from switchboard import supervisor
from tests.conftest import LOG_DIR, LivePlatform, free_port, make_bot, make_widget_key
from tests.conftest import new_visitor_id as visitor
from tests.widget_client import WidgetClient

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ORIGIN = "https://shop.example"
LIMITS = {
    "CONNECTS_PER_IP": "8/600",
    "CONNECTS_PER_ORG": "4/600",
    "CONVERSATIONS_PER_IP": "100/600",
    "CONVERSATIONS_PER_ORG": "100/600",
    "RESUMES_PER_IP": "3/600",
    "MEMORY_PER_IP": "2/600",
    "TYPING_PER_IP": "3/600",
    "OFFLINE_MESSAGES_PER_IP": "1/600",
    "FEEDBACK_PER_IP": "2/600",
    "HANDOFFS_PER_IP": "1/600",
    "FRAMES_PER_IP": "40/600",
}


def _forget_address_counters() -> None:
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter("sb:limit:*:ip:127.0.0.1"):
        client.delete(key)


@pytest.fixture
def limited_ws(live_platform: LivePlatform) -> Iterator[str]:
    """A second web process on the same database and Redis, with small flood limits."""
    _forget_address_counters()
    env = {**live_platform.env, **{f"SWITCHBOARD_RATE_{k}": v for k, v in LIMITS.items()}}
    port = free_port()
    with open(LOG_DIR / "web-floods.log", "ab") as log:
        proc = supervisor.start_web("127.0.0.1", port, env=env, log=log)
        try:
            supervisor.wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc)
            yield f"ws://127.0.0.1:{port}"
        finally:
            supervisor.stop([proc])
            _forget_address_counters()


def _refused_connect(ws_url: str, key: str) -> dict[str, Any]:
    conn = connect(
        f"{ws_url}/ws/widget/?key={key}&visitor={visitor()}",
        origin=ORIGIN,  # type: ignore[arg-type]
        open_timeout=10,
    )
    error = json.loads(conn.recv(timeout=10))
    with pytest.raises(ConnectionClosed) as closed:
        conn.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429
    return dict(error)


def test_connects_are_limited_per_organization_and_per_address(limited_ws: str) -> None:
    first, second = make_widget_key(make_bot()), make_widget_key(make_bot())
    tabs = [WidgetClient(limited_ws, first.key, visitor()) for _ in range(4)]
    conversations = Conversation.objects.count()
    # The organization's fifth connect in the window is refused before anything is written.
    error = _refused_connect(limited_ws, first.key)
    assert error["type"] == "error" and error["code"] == "rate_limited"
    assert "slow down" in error["detail"]
    assert Conversation.objects.count() == conversations
    # Another organization is not affected by the first one's limit...
    tabs += [WidgetClient(limited_ws, second.key, visitor()) for _ in range(4)]
    # ...but the address has now used its 8 connects, whichever organization it tries.
    assert _refused_connect(limited_ws, second.key)["code"] == "rate_limited"
    for tab in tabs:
        tab.close()


def _flood(client: WidgetClient, frame: dict[str, Any], times: int) -> list[dict[str, Any]]:
    """Send `frame` `times` times; the answers that are errors (typing has no other answer)."""
    errors = []
    for _ in range(times):
        client.send(frame)
        client.send({"type": "ping"})
        for answer in client.recv_until(lambda f: f["type"] == "pong", timeout=20):
            if answer["type"] == "error":
                errors.append(answer)
    return errors


def test_every_frame_type_is_limited_and_the_socket_stays_open(limited_ws: str) -> None:
    key = make_widget_key(make_bot(max_tokens=1))
    client = WidgetClient(limited_ws, key.key, visitor())

    cases: list[tuple[dict[str, Any], int]] = [
        ({"type": "resume", "last_seq": 0}, 3),
        ({"type": "memory.export"}, 2),
        ({"type": "typing", "on": True}, 3),
        ({"type": "offline_message", "email": "a@shop.example", "text": "call me"}, 1),
        ({"type": "feedback", "message_id": 2**40, "rating": "helpful"}, 2),
        ({"type": "handoff.request"}, 1),
    ]
    for frame, allowed in cases:
        errors = _flood(client, frame, allowed + 2)
        limited = [e for e in errors if e["code"] == "rate_limited"]
        assert len(limited) == 2, (frame["type"], errors)
        assert all("slow down" in e["detail"] for e in limited)
    # memory.list shares memory.export's bucket (spent above).
    assert [e["code"] for e in _flood(client, {"type": "memory.list"}, 1)] == ["rate_limited"]
    # A refused offline message stored nothing: one row, from the one allowed.
    assert OfflineMessage.objects.filter(conversation_id=client.conversation_id).count() == 1

    # Every frame counts, malformed ones included, until the address's frame budget is spent.
    answers = []
    for _ in range(40):
        client.send("{not json")
        answers.append(client.recv(timeout=10)["code"])
        if answers[-1] == "rate_limited":
            break
    assert answers[-1] == "rate_limited", answers
    assert set(answers[:-1]) <= {"bad_json"}
    client.close()


def test_new_conversations_are_limited_per_address(live_platform: LivePlatform) -> None:
    """First messages of fresh visitor ids each start a conversation: bounded per address;
    a returning visitor's messages are not."""
    _forget_address_counters()
    env = {**live_platform.env, "SWITCHBOARD_RATE_CONVERSATIONS_PER_IP": "2/600"}
    port = free_port()
    with open(LOG_DIR / "web-floods.log", "ab") as log:
        proc = supervisor.start_web("127.0.0.1", port, env=env, log=log)
        try:
            supervisor.wait_http(f"http://127.0.0.1:{port}/healthz", proc=proc)
            ws_url = f"ws://127.0.0.1:{port}"
            key = make_widget_key(make_bot(max_tokens=1))
            tabs = [WidgetClient(ws_url, key.key, visitor()) for _ in range(3)]
            for n, tab in enumerate(tabs[:2]):
                tab.send({"type": "message", "client_id": f"first-{n}", "text": "hello"})
                assert tab.recv_until(lambda f: f["type"] in ("ack", "error"))[-1]["type"] == "ack"
            contacts = Contact.objects.count()
            tabs[2].send({"type": "message", "client_id": "third", "text": "hello"})
            refused = tabs[2].recv_until(lambda f: f["type"] in ("ack", "error"))[-1]
            assert (refused["code"], refused["client_id"]) == ("rate_limited", "third")
            assert Contact.objects.count() == contacts, "nothing written for a refused visitor"
            # A visitor whose conversation is open goes on talking.
            tabs[0].send({"type": "message", "client_id": "again", "text": "still there?"})
            assert tabs[0].recv_until(lambda f: f["type"] in ("ack", "error"))[-1]["type"] == "ack"
            for tab in tabs:
                tab.close()
        finally:
            supervisor.stop([proc])
            _forget_address_counters()


def test_a_visitor_who_only_connects_stores_nothing_and_fires_no_webhook(
    live_platform: LivePlatform,
) -> None:
    """Contacts and conversations start with the customer's first message, so a page view
    (or a flood of connects) makes no conversation.created webhook."""
    bot = make_bot(max_tokens=1)
    key = make_widget_key(bot)
    WebhookEndpoint.objects.create(
        organization=bot.organization, url="https://hooks.example/in",
        events=["conversation.created"],
    )  # fmt: skip
    client = WidgetClient(live_platform.ws_url, key.key, visitor())
    other_tab = WidgetClient(live_platform.ws_url, key.key, client.visitor)
    assert client.hello["conversation_id"] is None and client.hello["seq"] == 0
    assert client.resume(0)[-1] == {"type": "resumed", "seq": 0}
    for frame in (
        {"type": "typing", "on": True},
        {"type": "memory.list"},
        {"type": "memory.export"},
        {"type": "feedback", "message_id": 1, "rating": "helpful"},
        {"type": "csat", "score": 5},
    ):
        client.send(frame)
    client.send({"type": "ping"})
    client.recv_until(lambda f: f["type"] == "pong")
    assert not Contact.objects.filter(organization=bot.organization).exists()
    assert not Conversation.objects.filter(bot=bot).exists()
    assert not WebhookDelivery.objects.filter(endpoint__organization=bot.organization).exists()

    client.send({"type": "message", "client_id": "first", "text": "Hello?"})
    client.recv_until(lambda f: f["type"] == "ack")
    conversation = Conversation.objects.get(bot=bot)
    assert conversation.pk == client.conversation_id
    deliveries = WebhookDelivery.objects.filter(endpoint__organization=bot.organization)
    assert [d.event for d in deliveries] == ["conversation.created"]
    # A tab opened before the first message finds the conversation when it resumes.
    resumed = other_tab.resume(0)
    assert [f["message"]["client_id"] for f in resumed if f["type"] == "message"][:1] == ["first"]
    other_tab.close()
    client.close()
    # Back later: the same conversation, named at once.
    again = WidgetClient(live_platform.ws_url, key.key, client.visitor)
    assert again.hello["conversation_id"] == conversation.pk
    again.close()
