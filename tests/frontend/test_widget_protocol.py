"""The widget socket under bad input and abuse, through the real server (docs/protocol.md).

Every bad frame gets a typed `error`, the socket stays usable and nothing is stored; frames
over 64 KiB close with 1009; refused handshakes; per-visitor rate and socket limits.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from memory.conversations.models import Contact, Conversation, Feedback, Message
from tests.conftest import LivePlatform, make_bot, make_widget_key, new_visitor_id
from tests.widget_client import WidgetClient

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ORIGIN = "https://shop.example"

# (frame as sent, the error code it must get). The fields are every client frame's fields.
BAD_FRAMES: list[tuple[str | dict[str, Any], str]] = [
    ("{not json", "bad_json"),
    ("", "bad_json"),
    ("[1, 2]", "bad_frame"),
    ("42", "bad_frame"),
    ('"message"', "bad_frame"),
    ("null", "bad_frame"),
    ({"text": "no type"}, "missing_field"),
    ({"type": "shout"}, "unknown_type"),
    ({"type": 7}, "unknown_type"),
    ({"type": "message", "text": "hello"}, "missing_field"),
    ({"type": "message", "client_id": "", "text": "hello"}, "invalid_field"),
    ({"type": "message", "client_id": "has space", "text": "hello"}, "invalid_field"),
    ({"type": "message", "client_id": 12, "text": "hello"}, "invalid_field"),
    ({"type": "message", "client_id": "x" * 65, "text": "hello"}, "invalid_field"),
    ({"type": "message", "client_id": "c1"}, "missing_field"),
    ({"type": "message", "client_id": "c1", "text": ""}, "invalid_field"),
    ({"type": "message", "client_id": "c1", "text": "   "}, "invalid_field"),
    ({"type": "message", "client_id": "c1", "text": ["hello"]}, "invalid_field"),
    ({"type": "message", "client_id": "c1", "text": "x" * 4001}, "too_long"),
    ({"type": "message", "client_id": "c1", "text": "é" * 20000}, "too_long"),
    ({"type": "feedback", "rating": "helpful"}, "missing_field"),
    ({"type": "feedback", "message_id": "5", "rating": "helpful"}, "invalid_field"),
    ({"type": "feedback", "message_id": -1, "rating": "helpful"}, "invalid_field"),
    ({"type": "feedback", "message_id": True, "rating": "helpful"}, "invalid_field"),
    ({"type": "feedback", "message_id": 1}, "missing_field"),
    ({"type": "feedback", "message_id": 1, "rating": "meh"}, "invalid_field"),
    (
        {"type": "feedback", "message_id": 1, "rating": "helpful", "comment": "x" * 2001},
        "invalid_field",
    ),
    ({"type": "feedback", "message_id": 1, "rating": "helpful", "comment": 3}, "invalid_field"),
    ({"type": "feedback", "message_id": 2**40, "rating": "helpful"}, "not_found"),
    ({"type": "resume"}, "missing_field"),
    ({"type": "resume", "last_seq": -1}, "invalid_field"),
    ({"type": "resume", "last_seq": "3"}, "invalid_field"),
    ({"type": "resume", "last_seq": 1.5}, "invalid_field"),
    ({"type": "typing"}, "missing_field"),
    ({"type": "typing", "on": "yes"}, "invalid_field"),
    ({"type": "csat"}, "missing_field"),
    ({"type": "csat", "score": 6}, "invalid_field"),
    ({"type": "csat", "score": "5"}, "invalid_field"),
    ({"type": "csat", "score": 5, "comment": "x" * 2001}, "invalid_field"),
    ({"type": "offline_message", "text": "call me"}, "missing_field"),
    ({"type": "offline_message", "email": "not-an-address", "text": "hi"}, "invalid_field"),
    ({"type": "offline_message", "email": "a@b.example"}, "missing_field"),
    ({"type": "offline_message", "email": "a@b.example", "text": " "}, "invalid_field"),
    ({"type": "offline_message", "email": "a@b.example", "text": "x" * 4001}, "too_long"),
    ({"type": "memory.delete"}, "missing_field"),
    ({"type": "memory.delete", "id": "7"}, "invalid_field"),
    ({"type": "memory.delete", "all": True, "messages": "yes"}, "invalid_field"),
    ({"type": "memory.delete", "preference": "shoe_size"}, "invalid_field"),
    ({"type": "preferences.set"}, "missing_field"),
    ({"type": "preferences.set", "language": 5}, "invalid_field"),
]


def _stored(conversation_id: int) -> tuple[int, int, int]:
    return (
        Message.objects.filter(conversation_id=conversation_id).count(),
        Feedback.objects.count(),
        Contact.objects.count(),
    )


def test_every_bad_frame_gets_a_typed_error_keeps_the_socket_open_and_stores_nothing(
    live_platform: LivePlatform,
) -> None:
    bot = make_bot(max_tokens=1)
    key = make_widget_key(bot)
    client = WidgetClient(live_platform.ws_url, key.key, new_visitor_id())
    client.resume(0)
    conversation_id = client.hello["conversation_id"]
    before = _stored(conversation_id)

    wrong = []
    for frame, code in BAD_FRAMES:
        client.send(frame if isinstance(frame, str) else json.dumps(frame, ensure_ascii=False))
        answer = client.recv(timeout=10)
        if answer["type"] != "error" or answer["code"] != code or not answer.get("detail"):
            wrong.append((str(frame)[:60], code, answer))
        if isinstance(frame, dict) and frame.get("client_id") == "c1":
            # An error about a message names the message, so the widget can mark it.
            assert answer.get("client_id") == "c1", answer
    client.conn.send(b"\x00\x01binary")
    answer = client.recv(timeout=10)
    if answer.get("code") != "binary_not_supported":
        wrong.append(("binary", "binary_not_supported", answer))
    assert not wrong, wrong
    assert _stored(conversation_id) == before, "a bad frame stored something"

    # Still open and still working.
    client.send({"type": "ping"})
    assert client.recv(timeout=10)["type"] == "pong"
    client.send({"type": "message", "client_id": "ok-1", "text": "Hello after the junk"})
    ack = client.recv_until(lambda f: f["type"] == "ack", timeout=20)[-1]
    assert ack["client_id"] == "ok-1"
    assert Message.objects.get(pk=ack["message"]["id"]).text == "Hello after the junk"
    client.close()


def test_a_frame_over_64_kib_closes_the_socket_with_1009_and_stores_nothing(
    live_platform: LivePlatform,
) -> None:
    key = make_widget_key(make_bot(max_tokens=1))
    client = WidgetClient(live_platform.ws_url, key.key, new_visitor_id())
    conversation_id = client.hello["conversation_id"]
    before = _stored(conversation_id)
    client.send({"type": "message", "client_id": "big", "text": "x" * (65 * 1024)})
    with pytest.raises(ConnectionClosed) as closed:
        client.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    assert _stored(conversation_id) == before


@pytest.mark.parametrize(
    "case", ["foreign origin", "no origin", "revoked key", "unknown key", "bad visitor id"]
)
def test_a_handshake_that_fails_a_check_is_refused(live_platform: LivePlatform, case: str) -> None:
    key = make_widget_key(make_bot())
    key_value, origin, visitor = key.key, ORIGIN, new_visitor_id()
    if case == "foreign origin":
        origin = "https://evil.example"
    elif case == "revoked key":
        key.revoked = True
        key.save(update_fields=["revoked"])
    elif case == "unknown key":
        key_value = "wk_" + "a" * 32
    elif case == "bad visitor id":
        visitor = "short"
    conversations = Conversation.objects.count()
    with pytest.raises(InvalidStatus) as refused:
        connect(
            f"{live_platform.ws_url}/ws/widget/?key={key_value}&visitor={visitor}",
            origin=None if case == "no origin" else origin,  # type: ignore[arg-type]
            open_timeout=10,
        )
    assert refused.value.response.status_code == 403
    assert Conversation.objects.count() == conversations
    # The control: the same key, origin and visitor id shape are accepted.
    if case in ("foreign origin", "no origin"):
        WidgetClient(live_platform.ws_url, key.key, visitor, origin=ORIGIN).close()


def test_a_visitor_sending_too_fast_is_told_to_slow_down_and_nothing_is_stored(
    live_platform: LivePlatform,
) -> None:
    bot = make_bot(max_tokens=1)
    key = make_widget_key(bot)
    visitor = new_visitor_id()
    client = WidgetClient(live_platform.ws_url, key.key, visitor)
    client.resume(0)
    # The default is 10 messages per 30 s (one token back every 3 s): send 14 at once, then
    # resend the first (as a widget does when an ack got lost), then one more.
    burst = [f"burst-{n}" for n in range(14)]
    for client_id in [*burst, "burst-0", "burst-14"]:
        client.send({"type": "message", "client_id": client_id, "text": f"text of {client_id}"})
    answers = []
    while len(answers) < 16:
        frame = client.recv(timeout=30)
        if frame["type"] in ("ack", "error"):
            answers.append(frame)
    acked = [a["client_id"] for a in answers[:14] if a["type"] == "ack"]
    refused = [a for a in answers if a["type"] == "error"]
    assert 10 <= len(acked) <= 11, answers  # the bucket, plus at most one refill
    assert refused and all(a["code"] == "rate_limited" for a in refused)
    assert all("slow down" in a["detail"] and a["client_id"].startswith("burst") for a in refused)
    stored = Message.objects.filter(conversation__bot=bot, role="user")
    assert sorted(m.client_id for m in stored) == sorted(
        acked + [a["client_id"] for a in answers[15:] if a["type"] == "ack"]
    )
    # The resend of a stored message is acknowledged although the bucket is empty.
    resend = answers[14]
    assert resend["type"] == "ack" and resend["message"]["id"] == stored.get(client_id="burst-0").pk
    assert answers[13]["type"] == "error" or answers[15]["type"] == "error"

    # The limit is the visitor's, not the socket's: a second tab shares it ...
    second = WidgetClient(live_platform.ws_url, key.key, visitor)
    for n in range(4):
        second.send({"type": "message", "client_id": f"tab-{n}", "text": "from another tab"})
    tab_answers = [second.recv_until(lambda f: f["type"] in ("ack", "error"))[-1] for _ in range(4)]
    assert any(a.get("code") == "rate_limited" for a in tab_answers)
    # ... and another visitor of the same bot is not affected.
    other = WidgetClient(live_platform.ws_url, key.key, new_visitor_id())
    other.send({"type": "message", "client_id": "o1", "text": "hello"})
    assert other.recv_until(lambda f: f["type"] in ("ack", "error"))[-1]["type"] == "ack"
    for c in (client, second, other):
        c.close()


def test_a_visitor_with_too_many_open_sockets_is_refused_until_one_closes(
    live_platform: LivePlatform,
) -> None:
    key = make_widget_key(make_bot())
    visitor = new_visitor_id()
    tabs = [WidgetClient(live_platform.ws_url, key.key, visitor) for _ in range(5)]
    conn = connect(
        f"{live_platform.ws_url}/ws/widget/?key={key.key}&visitor={visitor}",
        origin=ORIGIN,  # type: ignore[arg-type]
        open_timeout=10,
    )
    error = json.loads(conn.recv(timeout=10))
    assert error["type"] == "error" and error["code"] == "too_many_sockets"
    with pytest.raises(ConnectionClosed) as closed:
        conn.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4429

    tabs.pop().close()
    time.sleep(0.5)  # the server forgets the socket once it has run `disconnect`
    again = WidgetClient(live_platform.ws_url, key.key, visitor)  # a closed tab frees its place
    again.send({"type": "ping"})
    assert again.recv(timeout=10)["type"] == "pong"
    for tab in [*tabs, again]:
        tab.close()
