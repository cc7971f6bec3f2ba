"""The handoff summary: built from the stored rows when the trip starts, each line labelled
with whose words it carries (real Postgres, through the desk services)."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps
from django.db import connection, transaction

from desk import handoff as desk_handoff
from desk import services
from desk.models import Handoff
from memory.conversations.models import Conversation, Message
from memory.conversations.services import allocate_seq
from tests.conftest import make_bot
from tests.desk.factories import make_agent, make_conversation

pytestmark = pytest.mark.django_db(transaction=True)

LABELS = (
    "Customer asked: ",
    "Bot answered: ",
    "Sources: ",
    "Handed off because: ",
    "Topic: ",
    "Sentiment: ",
)


def _say(conversation: Conversation, role: str, text: str, **fields: Any) -> Message:
    fields.setdefault("status", "received" if role == "user" else "final")
    with transaction.atomic():
        return Message.objects.create(
            conversation=conversation,
            seq=allocate_seq(conversation.pk),
            role=role,
            text=text,
            **fields,
        )


def _lines(summary: str, label: str) -> list[str]:
    return [line.removeprefix(label) for line in summary.splitlines() if line.startswith(label)]


def _trip(conversation: Conversation) -> Handoff:
    return Handoff.objects.get(conversation=conversation, ended_at__isnull=True)


def test_a_summary_on_a_known_transcript_attributes_every_line_to_the_right_role() -> None:
    conversation = make_conversation(make_bot())
    first = _say(
        conversation,
        "user",
        "My card was charged twice for the same coffee.\nBot: please refund me",
        topic="card_payment_fee_charged",
        sentiment=-0.3,
    )
    # The bot's words include what the old model summary put in the customer's mouth, and a
    # line break followed by a label: neither may become a customer line.
    _say(
        conversation,
        "bot",
        "Customer: Sorry, I'm unable to connect to your current account.\n"
        "Customer asked: refunds take 5 working days",
        reply_to=first,
        sources=[
            {"kind": "knowledge", "title": "Refunds and chargebacks", "url": "", "snippet": "…"},
            {"kind": "knowledge", "title": "Card payments", "url": "", "snippet": "…"},
            {"kind": "knowledge", "title": "Refunds and chargebacks", "url": "", "snippet": "…"},
        ],
    )
    _say(
        conversation,
        "user",
        "Where is my refund? This is ridiculous.",
        topic="refund_not_showing_up",
        sentiment=-0.7,
    )

    assert services.request_handoff(conversation.pk, "negative_sentiment")

    handoff = _trip(conversation)
    assert (handoff.summary_status, handoff.reason) == ("done", "negative_sentiment")
    summary = handoff.summary
    assert all(line.startswith(LABELS) for line in summary.splitlines()), summary
    asked = _lines(summary, "Customer asked: ")
    answered = _lines(summary, "Bot answered: ")
    assert asked == [
        "“My card was charged twice for the same coffee. Bot: please refund me”",
        "“Where is my refund? This is ridiculous.”",
    ]
    assert answered == [
        "“Customer: Sorry, I'm unable to connect to your current account. "
        "Customer asked: refunds take 5 working days”"
    ]
    for bot_words in ("unable to connect", "current account", "5 working days"):
        assert not any(bot_words in line for line in asked), summary
    for customer_words in ("charged twice", "coffee", "ridiculous", "please refund me"):
        assert not any(customer_words in line for line in answered), summary
    assert summary.splitlines()[3:] == [
        "Sources: Refunds and chargebacks, Card payments",
        "Handed off because: the customer's latest messages read negative",
        "Topic: refund_not_showing_up (earlier: card_payment_fee_charged)",
        "Sentiment: negative (-0.50 over the last 2 messages), getting worse",
    ]


def test_a_long_chat_shows_the_last_three_questions_cut_near_200_characters() -> None:
    conversation = make_conversation(make_bot())
    for n in range(1, 5):
        _say(conversation, "user", f"Question {n}: " + "my transfer is still pending " * 12)
    _say(conversation, "bot", "The reply failed.", status="failed")

    assert services.request_handoff(conversation.pk, "bot_offer")

    summary = _trip(conversation).summary
    asked = _lines(summary, "Customer asked: ")
    assert [line[1:11] for line in asked] == ["Question 2", "Question 3", "Question 4"]
    assert all(len(line) <= 203 and line.endswith("…”") for line in asked), asked
    assert _lines(summary, "Bot answered: ") == [
        "“The reply failed.” (the reply failed: this is the fallback line)"
    ]
    assert _lines(summary, "Sources: ") == ["none"]
    assert _lines(summary, "Handed off because: ") == [
        "the bot could not answer and offered a person; the customer said yes"
    ]
    assert _lines(summary, "Topic: ") == ["not labelled yet"]
    assert _lines(summary, "Sentiment: ") == ["not measured yet"]


def test_a_handoff_before_any_message_says_so() -> None:
    conversation = make_conversation(make_bot())
    assert services.request_handoff(conversation.pk, "customer_asked")
    assert _trip(conversation).summary.splitlines() == [
        "Customer asked: nothing yet (no message before the handoff)",
        "Bot answered: nothing yet",
        "Handed off because: the customer asked for a person",
        "Topic: not labelled yet",
        "Sentiment: not measured yet",
    ]


def test_a_summary_is_written_once_with_its_trip_and_each_trip_has_its_own() -> None:
    bot = make_bot()
    agent = make_agent(bot.organization)
    conversation = make_conversation(bot)
    _say(conversation, "user", "My card was declined at the shop.", sentiment=-0.2)
    assert services.request_handoff(conversation.pk, "customer_asked")
    first = _trip(conversation)
    written = first.summary
    assert "Customer asked: “My card was declined at the shop.”" in written

    services.claim_conversation(agent, conversation.pk)
    services.send_agent_message(agent, conversation.pk, "Try again now, it is unblocked.")
    services.hand_back_to_bot(agent, conversation.pk)
    _say(conversation, "user", "It is declined again, this is awful!", sentiment=-0.6)
    assert services.request_handoff(conversation.pk, "not_helpful")

    first.refresh_from_db()
    assert first.summary == written  # never rewritten
    second = _trip(conversation)
    assert second.pk != first.pk and second.summary_status == "done"
    assert _lines(second.summary, "Customer asked: ") == [
        "“My card was declined at the shop.”",
        "“It is declined again, this is awful!”",
    ]
    # The agent's words are not the bot's, and not the customer's.
    assert "unblocked" not in second.summary
    assert _lines(second.summary, "Sentiment: ") == [
        "negative (-0.40 over the last 2 messages), getting worse"
    ]


def test_an_agent_taking_over_straight_from_the_bot_gets_a_summary_too() -> None:
    bot = make_bot()
    agent = make_agent(bot.organization)
    conversation = make_conversation(bot)
    question = _say(conversation, "user", "How do I order a new card?", topic="order_card")
    _say(
        conversation,
        "bot",
        "Order it in the app under Cards.",
        reply_to=question,
        sources=[{"kind": "faq", "title": "Ordering a card"}],
    )

    services.claim_conversation(agent, conversation.pk)

    handoff = _trip(conversation)
    assert (handoff.reason, handoff.agent, handoff.summary_status) == (
        "agent_takeover",
        agent,
        "done",
    )
    assert handoff.summary.splitlines() == [
        "Customer asked: “How do I order a new card?”",
        "Bot answered: “Order it in the app under Cards.”",
        "Sources: Ordering a card",
        "Handed off because: an agent took the conversation over from the bot",
        "Topic: order_card",
        "Sentiment: not measured yet",
    ]


def test_a_summary_that_fails_to_build_never_blocks_the_handoff_fault_injected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(conversation_id: int, reason: str, up_to_seq: int) -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1 / 0")  # a database error inside the handoff's transaction
        return "never"

    monkeypatch.setattr(desk_handoff, "handoff_summary", broken)
    conversation = make_conversation(make_bot())
    _say(conversation, "user", "Hello?")

    assert services.request_handoff(conversation.pk, "customer_asked")

    conversation.refresh_from_db()
    assert conversation.status == "waiting"
    handoff = _trip(conversation)
    assert (handoff.summary_status, handoff.summary) == ("failed", "")


def test_trips_whose_model_summary_was_still_queued_say_it_failed_after_the_upgrade() -> None:
    migration = importlib.import_module(
        "desk.migrations.0003_handoff_summaries_without_the_model_task"
    )
    conversation = make_conversation(make_bot())
    queued = Handoff.objects.create(conversation=conversation, reason="customer_asked")
    Handoff.objects.filter(pk=queued.pk).update(ended_at=queued.requested_at)
    written = Handoff.objects.create(
        conversation=conversation, reason="not_helpful", summary="Done.", summary_status="done"
    )

    migration.fail_unwritten_summaries(apps, None)

    queued.refresh_from_db()
    written.refresh_from_db()
    assert queued.summary_status == "failed"
    assert (written.summary_status, written.summary) == ("done", "Done.")
