"""The reply's task leaves before the customer's transaction commits (bots.tasks.
queue_reply_early), through the real `llm` worker and SmolLM2: its claim waits for that
transaction, then answers once, or not at all when it rolled back or handed off to a person.
"""

from __future__ import annotations

import time

import psycopg
import pytest
from django.db import connection, transaction

from desk.intake import accept_customer_message
from memory.conversations.models import Conversation, Message
from memory.conversations.services import open_conversation
from tests.conftest import LivePlatform, make_bot, new_visitor_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _wait_for(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def _final_reply(question: Message, timeout: float = 240) -> Message:
    _wait_for(
        lambda: Message.objects.filter(reply_to=question, status__in=["final", "failed"]).exists(),
        timeout,
    )
    return Message.objects.get(reply_to=question)


def _backends_waiting_for_a_lock() -> list[str]:
    """Other sessions' statements that wait for a row lock (read on a connection of its own)."""
    db = connection.settings_dict
    with psycopg.connect(
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"],
        host=db["HOST"],
        port=db["PORT"],
        autocommit=True,
    ) as other:
        rows = other.execute(
            "SELECT query FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND datname = current_database()"
        ).fetchall()
    return [row[0] for row in rows]


def test_the_task_sent_before_the_commit_waits_for_it_then_answers_once(
    live_platform: LivePlatform,
) -> None:
    conversation = open_conversation(make_bot(max_tokens=12), new_visitor_id())
    with transaction.atomic():
        question, created = accept_customer_message(conversation, "e1", "Where is my card?")
        assert created
        # The task is on its way already; the worker's claim blocks on this transaction.
        _wait_for(lambda: any("FOR UPDATE" in q for q in _backends_waiting_for_a_lock()), 60)
        assert not Message.objects.filter(reply_to=question).exists()
    reply = _final_reply(question)
    assert reply.status == "final" and reply.text and reply.attempts == 1
    assert reply.seq == question.seq + 1
    assert Message.objects.filter(conversation=conversation, role="bot").count() == 1


def test_the_task_of_a_message_rolled_back_does_nothing(live_platform: LivePlatform) -> None:
    bot = make_bot(max_tokens=12)
    conversation = open_conversation(bot, new_visitor_id())

    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned), transaction.atomic():
        accept_customer_message(conversation, "gone", "This message is never stored")
        _wait_for(lambda: any("FOR UPDATE" in q for q in _backends_waiting_for_a_lock()), 60)
        raise Abandoned()
    # The one llm worker process runs its tasks in order: once the next message's reply is
    # final, the abandoned message's task has run too.
    question, _ = accept_customer_message(conversation, "kept", "Where is my card?")
    _final_reply(question)
    assert list(Message.objects.filter(conversation=conversation).values_list("role", "seq")) == [
        ("user", 1),
        ("bot", 2),
    ]


def test_a_message_handed_to_a_person_gets_no_bot_reply_though_its_task_left_early(
    live_platform: LivePlatform,
) -> None:
    bot = make_bot(max_tokens=12)
    asked = open_conversation(bot, new_visitor_id())
    question, _ = accept_customer_message(asked, "h1", "Can I speak to a real person please?")
    asked.refresh_from_db()
    assert asked.status == Conversation.Status.WAITING
    # As above: another conversation's reply, final, means the first task has run.
    other = open_conversation(bot, new_visitor_id())
    _final_reply(accept_customer_message(other, "o1", "Where is my card?")[0])
    assert not Message.objects.filter(reply_to=question).exists()
    assert not Message.objects.filter(conversation=asked, role="bot").exists()
