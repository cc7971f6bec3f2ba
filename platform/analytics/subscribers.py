"""Mark rollup hours stale as the raw log changes (events from core.outbox), and schedule a
refresh for new marks. Every change that moves a count has its event, bot replies finishing
included, so no periodic re-marking is needed."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction

from core import outbox
from desk.models import Csat
from desk.services import CSAT_CHANGED, CSAT_CREATED
from memory.conversations import events
from memory.conversations.models import Conversation, Feedback

from .rollups import mark_dirty
from .tasks import refresh_rollups


def _moment(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def _mark(org_id: int, moments: Iterable[datetime | None]) -> None:
    if mark_dirty(org_id, moments):
        # A short delay batches a burst of messages into one refresh.
        transaction.on_commit(lambda: refresh_rollups.apply_async(countdown=5))


def conversation_changed(event: outbox.Event) -> None:
    row = (
        Conversation.objects.filter(pk=event.data["conversation_id"])
        .values_list("created_at", "resolved_at")
        .first()
    )
    if row is not None:
        _mark(event.organization_id, [*row, _moment(event.data.get("was_resolved_at"))])


def message_created(event: outbox.Event) -> None:
    _mark(event.organization_id, [_moment(event.data["created_at"])])


def feedback_changed(event: outbox.Event) -> None:
    row = (
        Feedback.objects.filter(pk=event.data["feedback_id"])
        .values_list("created_at", "message__created_at", "message__reply_to__created_at")
        .first()
    )
    if row is not None:
        _mark(event.organization_id, row)


def csat_changed(event: outbox.Event) -> None:
    created_at = (
        Csat.objects.filter(pk=event.data["csat_id"]).values_list("created_at", flat=True).first()
    )
    _mark(event.organization_id, [created_at])


def contact_erased(event: outbox.Event) -> None:
    _mark(event.organization_id, [_moment(hour) for hour in event.data["hours"]])


def connect() -> None:
    for kind in (
        events.CONVERSATION_CREATED,
        events.HANDOFF_REQUESTED,
        events.CONVERSATION_RESOLVED,
        events.CONVERSATION_MOVED,
    ):
        outbox.subscribe(kind, conversation_changed)
    outbox.subscribe(events.MESSAGE_CREATED, message_created)
    outbox.subscribe(events.FEEDBACK_CREATED, feedback_changed)
    outbox.subscribe(events.FEEDBACK_CHANGED, feedback_changed)
    outbox.subscribe(CSAT_CREATED, csat_changed)
    outbox.subscribe(CSAT_CHANGED, csat_changed)
    outbox.subscribe(events.CONTACT_ERASED, contact_erased)
