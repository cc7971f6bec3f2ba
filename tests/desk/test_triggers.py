"""Handoff triggers, per bot: asked, 'not helpful' twice, sentiment trend, the bot's offer,
no relevant knowledge, and business hours."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction

from desk import services
from desk.intake import accept_customer_message
from desk.models import Handoff, HandoffPolicy
from desk.triggers import is_open
from memory.conversations.models import Conversation, Message
from memory.conversations.services import allocate_seq, record_feedback
from memory.knowledge.models import Lookup
from tests.conftest import make_bot
from tests.desk.factories import make_conversation

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_background_replies_or_labels(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Keep the session's live workers off these conversations.

    The triggers are decided when a message is accepted, before any background work; these
    tests write the bot's replies and the sentiment scores themselves. A live worker (when
    another test started one) would otherwise answer and relabel the same messages at the
    same time, racing the test's own rows.
    """
    from bots.tasks import generate_reply
    from bots.topics.tasks import label_message
    from desk import intake

    queued: list[int] = []
    # The reply's task normally leaves before the commit (bots.tasks.queue_reply_early);
    # refused here, it falls back to the on-commit send, which this list takes instead.
    monkeypatch.setattr(intake, "queue_reply_early", lambda message: False)
    monkeypatch.setattr(generate_reply, "delay_on_commit", queued.append)
    monkeypatch.setattr(label_message, "delay_on_commit", queued.append)
    return queued


def _bot_reply(conversation: Conversation, to: Message, status: str = "final") -> Message:
    with transaction.atomic():
        return Message.objects.create(
            conversation=conversation,
            seq=allocate_seq(conversation.pk),
            role="bot",
            status=status,
            text="An answer.",
            reply_to=to,
        )


def _status(conversation: Conversation) -> str:
    conversation.refresh_from_db()
    return conversation.status


def test_asking_for_a_person_in_free_text_queues_the_conversation_without_a_bot_reply() -> None:
    conversation = make_conversation(make_bot())
    message, _ = accept_customer_message(conversation, "h1", "Can I speak to a real person?")
    assert _status(conversation) == "waiting"
    assert Handoff.objects.get(conversation=conversation).reason == "customer_asked"
    assert not Message.objects.filter(reply_to=message).exists()


def test_a_policy_that_ignores_requests_keeps_the_bot() -> None:
    bot = make_bot()
    HandoffPolicy.objects.create(bot=bot, on_request=False)
    conversation = make_conversation(bot)
    accept_customer_message(conversation, "h1", "Let me talk to a human")
    assert _status(conversation) == "bot"


def test_two_not_helpful_ratings_in_a_row_hand_off_and_one_does_not() -> None:
    conversation = make_conversation(make_bot())
    replies = []
    for n in range(3):
        question, _ = accept_customer_message(conversation, f"q{n}", f"Question number {n}?")
        replies.append(_bot_reply(conversation, question))
    contact = conversation.contact
    record_feedback(contact, replies[0].pk, "not_helpful")
    record_feedback(contact, replies[1].pk, "helpful")
    record_feedback(contact, replies[2].pk, "not_helpful")
    assert not services.hand_off_after_feedback(conversation.pk)
    record_feedback(contact, replies[1].pk, "not_helpful")
    assert services.hand_off_after_feedback(conversation.pk)
    assert (_status(conversation), conversation.handoff_reason) == ("waiting", "not_helpful")


def test_a_negative_sentiment_trend_hands_off_on_the_next_message() -> None:
    conversation = make_conversation(make_bot())
    for n, score in enumerate([-0.6, -0.7, -0.5]):
        message, _ = accept_customer_message(conversation, f"s{n}", f"This is bad {n}")
        Message.objects.filter(pk=message.pk).update(sentiment=score)
        _bot_reply(conversation, message)
    accept_customer_message(conversation, "s3", "Still not working")
    assert (_status(conversation), conversation.handoff_reason) == (
        "waiting",
        "negative_sentiment",
    )


def test_saying_yes_to_the_bots_offer_after_no_relevant_knowledge_hands_off() -> None:
    conversation = make_conversation(make_bot())
    question, _ = accept_customer_message(conversation, "k1", "How do I fly to the moon?")
    Lookup.objects.create(message=question, bot=conversation.bot, outcome="no_knowledge")
    _bot_reply(conversation, question)
    accept_customer_message(conversation, "k2", "Yes please")
    assert (_status(conversation), conversation.handoff_reason) == ("waiting", "bot_offer")


def test_yes_without_an_offer_stays_with_the_bot() -> None:
    conversation = make_conversation(make_bot())
    question, _ = accept_customer_message(conversation, "k1", "Is my card active?")
    _bot_reply(conversation, question)
    accept_customer_message(conversation, "k2", "yes")
    assert _status(conversation) == "bot"


def test_no_relevant_knowledge_hands_off_at_once_when_the_policy_says_so() -> None:
    bot = make_bot()
    conversation = make_conversation(bot)
    question, _ = accept_customer_message(conversation, "k1", "How do I fly to the moon?")
    Lookup.objects.create(message=question, bot=bot, outcome="no_knowledge")
    assert not services.hand_off_after_reply(question.pk)  # off by default
    HandoffPolicy.objects.create(bot=bot, on_no_knowledge=True)
    assert services.hand_off_after_reply(question.pk)
    assert (_status(conversation), conversation.handoff_reason) == ("waiting", "no_knowledge")


def test_business_hours_by_weekday_and_hour_in_the_bots_time_zone() -> None:
    policy = HandoffPolicy(
        timezone="Europe/Berlin", weekdays=[0, 1, 2, 3, 4], open_hour=9, close_hour=17
    )
    berlin = ZoneInfo("Europe/Berlin")
    assert is_open(policy, datetime(2026, 11, 30, 10, 0, tzinfo=berlin))  # Monday 10:00
    assert not is_open(policy, datetime(2026, 11, 30, 17, 0, tzinfo=berlin))
    assert not is_open(policy, datetime(2026, 11, 29, 10, 0, tzinfo=berlin))  # Sunday
    assert is_open(HandoffPolicy(), datetime(2026, 11, 29, 3, 0, tzinfo=berlin))  # always


def test_outside_business_hours_the_bot_stays_and_an_offline_note_is_stored() -> None:
    bot = make_bot()
    HandoffPolicy.objects.create(bot=bot, weekdays=[7])  # no such weekday: always closed
    conversation = make_conversation(bot)
    assert not services.ask_for_human(conversation.pk)
    assert _status(conversation) == "bot"
    note = services.record_offline_message(conversation.pk, "ada@example.com", "Call me")
    assert (note.email, note.conversation) == ("ada@example.com", conversation)
