"""The outbox (core.outbox): an event exists iff its cause committed, reaches every consumer
after commit, is redone after a crash, and is never doubled at a consumer."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from analytics.selectors import summary
from api.models import WebhookDelivery, WebhookEndpoint
from core import outbox
from core.models import OutboxEvent
from core.tasks import sweep_outbox
from memory.conversations.events import MESSAGE_CREATED
from memory.conversations.services import open_conversation, record_user_message
from tests.conftest import LivePlatform, make_bot, new_visitor_id

pytestmark = [pytest.mark.django_db(transaction=True)]


def _endpoint(bot: object, *events: str) -> WebhookEndpoint:
    return WebhookEndpoint.objects.create(
        organization=bot.organization,  # type: ignore[attr-defined]
        url="https://hooks.example/in",
        events=list(events),
    )


def _deliveries(endpoint: WebhookEndpoint, event: str) -> int:
    return WebhookDelivery.objects.filter(endpoint=endpoint, event=event).count()


def test_an_event_whose_transaction_rolls_back_is_never_dispatched() -> None:
    bot = make_bot()
    endpoint = _endpoint(bot, "conversation.created", "message.created")
    with pytest.raises(RuntimeError), transaction.atomic():
        conversation = open_conversation(bot, new_visitor_id())
        record_user_message(conversation, "c1", "Hello?")
        raise RuntimeError("the change fails after its events were recorded")

    assert outbox.sweep(older_than=timedelta(0)) == 0
    assert not OutboxEvent.objects.filter(organization_id=bot.organization_id).exists()
    assert not WebhookDelivery.objects.filter(endpoint=endpoint).exists()


@pytest.mark.slow
def test_crash_between_commit_and_dispatch_fault_injected_the_beat_sweep_delivers_once(
    live_platform: LivePlatform,
) -> None:
    bot = make_bot()
    endpoint = _endpoint(bot, "conversation.created", "message.created")
    today = timezone.now().date()
    with outbox.skipping_dispatch_on_commit():
        conversation = open_conversation(bot, new_visitor_id())
        record_user_message(conversation, "c1", "Is my card on its way?")
    assert not WebhookDelivery.objects.filter(endpoint=endpoint).exists()
    owed = OutboxEvent.objects.filter(conversation_id=conversation.pk, dispatched_at=None)
    assert owed.count() == 2

    OutboxEvent.objects.filter(conversation_id=conversation.pk).update(
        created_at=timezone.now() - timedelta(minutes=1)  # the sweep's grace period is over
    )
    for _ in range(2):  # beat's task on the real background worker, twice
        sweep_outbox.delay()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and owed.exists():
        time.sleep(0.2)
    assert not owed.exists()
    sweep_outbox.delay()
    time.sleep(2)
    assert _deliveries(endpoint, "conversation.created") == 1
    assert _deliveries(endpoint, "message.created") == 1
    # The analytics mark was made too: the dashboard counts the conversation and message once.
    while time.monotonic() < deadline:
        counts = summary(bot.organization_id, today, today)
        if counts["conversations"] == 1:
            break
        time.sleep(0.5)
    assert (counts["conversations"], counts["messages"]) == (1, 1)


def test_two_dispatchers_of_the_same_event_at_once_deliver_it_once() -> None:
    bot = make_bot()
    endpoint = _endpoint(bot, "message.created")
    with outbox.skipping_dispatch_on_commit():
        conversation = open_conversation(bot, new_visitor_id())
        record_user_message(conversation, "c1", "Hello?")
    event = OutboxEvent.objects.get(conversation_id=conversation.pk, kind=MESSAGE_CREATED)
    start = threading.Barrier(2)
    results: list[bool] = []

    def dispatch() -> None:
        try:
            start.wait()
            results.append(outbox.dispatch(event.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=dispatch) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(results) == [False, True]
    assert _deliveries(endpoint, "message.created") == 1
    event.refresh_from_db()
    assert event.dispatched_at is not None and event.attempts == 1


@pytest.fixture
def fault_injected_failing_consumer() -> Iterator[list[int]]:
    """A consumer that fails its first call (fault injection), subscribed beside the real ones."""
    calls: list[int] = []

    def fail_once(event: outbox.Event) -> None:
        calls.append(event.id)
        if len(calls) == 1:
            raise RuntimeError("consumer down")

    outbox.subscribe(MESSAGE_CREATED, fail_once)
    yield calls
    outbox.unsubscribe(MESSAGE_CREATED, fail_once)


def test_a_failing_consumer_fault_injected_leaves_the_event_for_a_retry_without_doubling_others(
    fault_injected_failing_consumer: list[int],
) -> None:
    bot = make_bot()
    endpoint = _endpoint(bot, "message.created")
    conversation = open_conversation(bot, new_visitor_id())
    record_user_message(conversation, "c1", "Hello?")  # dispatched on commit: the consumer fails

    event = OutboxEvent.objects.get(conversation_id=conversation.pk, kind=MESSAGE_CREATED)
    assert event.dispatched_at is None and event.attempts == 1
    assert "consumer down" in event.last_error
    assert event.next_attempt_at > timezone.now()  # backed off
    assert _deliveries(endpoint, "message.created") == 0  # rolled back with the failure

    OutboxEvent.objects.filter(pk=event.pk).update(
        next_attempt_at=timezone.now(), created_at=timezone.now() - timedelta(minutes=1)
    )
    assert outbox.sweep() == 1
    assert outbox.sweep(older_than=timedelta(0)) == 0
    assert _deliveries(endpoint, "message.created") == 1
    assert fault_injected_failing_consumer == [event.pk, event.pk]
    event.refresh_from_db()
    assert event.dispatched_at is not None and event.attempts == 2
