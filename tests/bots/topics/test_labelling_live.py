"""Labelling through the real background worker: widget → Postgres → `embeddings` queue → labels."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

from bots.topics import services
from bots.topics.models import TopicClassifier
from memory.conversations.models import Message
from tests.conftest import LivePlatform, make_bot, make_widget_key, new_visitor_id
from tests.widget_client import WidgetClient, is_final_reply

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout: float = 90) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("timed out waiting for the background worker")


def trained_on(bot_id: int, topic: str) -> TopicClassifier | None:
    return TopicClassifier.objects.filter(
        bot_id=bot_id, status=TopicClassifier.Status.READY, topic_names__contains=[topic]
    ).first()


def test_the_worker_trains_on_new_examples_and_labels_each_customer_message(
    live_platform: LivePlatform,
) -> None:
    bot = make_bot(max_tokens=16)
    services.add_topic(bot, "card_arrival", ["My card hasn't arrived", "When will my card come?"])
    services.add_topic(bot, "refund", ["I want a refund", "Give me my money back"])
    eventually(lambda: trained_on(bot.pk, "refund"))

    client = WidgetClient(live_platform.ws_url, make_widget_key(bot).key, new_visitor_id())
    client.resume(0)
    client.send(
        {
            "type": "message",
            "client_id": "m1",
            "text": "My new card still hasn't arrived. This is terrible.",
        }
    )
    frames = client.recv_until(is_final_reply, timeout=90)
    ack = next(f for f in frames if f["type"] == "ack")

    def labelled() -> Message | None:
        return Message.objects.filter(pk=ack["message"]["id"], sentiment__isnull=False).first()

    message = eventually(labelled)
    assert message.topic == "card_arrival"
    assert message.topic_confidence is not None and message.topic_confidence > 0.5
    assert message.sentiment is not None and message.sentiment < 0
    # The bot's own reply is not labelled, and the customer never sees label frames.
    assert Message.objects.get(pk=frames[-1]["message"]["id"]).sentiment is None
    client.send({"type": "ping"})
    later = client.recv_until(lambda f: f["type"] == "pong", timeout=10)
    assert all(f["type"] != "message.labelled" for f in [*frames, *later])

    # New examples: the worker retrains, and the next message gets the new topic.
    services.add_topic(bot, "apple_pay", ["Can I use Apple Pay?", "Add my card to Apple Pay"])
    eventually(lambda: trained_on(bot.pk, "apple_pay"))
    client.send({"type": "message", "client_id": "m2", "text": "does apple pay work with it?"})
    ack = client.recv_until(lambda f: f["type"] == "ack", timeout=30)[-1]
    message = eventually(labelled)
    assert message.topic == "apple_pay"
    client.close()
