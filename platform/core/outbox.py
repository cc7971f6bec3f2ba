"""The transactional outbox: one path for the side effects of a change.

A producer calls `record(kind, …)` inside the transaction that makes the change; the event
row commits or rolls back with it. Once it commits, the same process dispatches it: one
transaction locks the row, runs every subscriber (`subscribe`, called from the consuming
apps' `AppConfig.ready`: upper layers register with this bottom one) and marks it
dispatched, so all consumers' writes commit with the mark or none do. A subscriber only
writes to the database, or queues work on commit. A failing one rolls the event back for a
retry with backoff; after OUTBOX_MAX_ATTEMPTS it is marked dead and logged. Beat's `sweep`
redoes what a crash between commit and dispatch left behind. Realtime frames do not come
through here (docs/architecture.md).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from .models import OutboxEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    id: int
    kind: str
    organization_id: int
    conversation_id: int | None
    data: dict[str, Any]  # as JSON gives it back: datetimes are ISO strings
    created_at: datetime


Handler = Callable[[Event], None]
_handlers: dict[str, list[Handler]] = defaultdict(list)
# Fault injection for tests only: a process that "crashes" between commit and dispatch.
_skip_dispatch_on_commit = False


def subscribe(kind: str, handler: Handler) -> None:
    """Run `handler` for every event of `kind`, inside the event's dispatch transaction."""
    if handler not in _handlers[kind]:
        _handlers[kind].append(handler)


def unsubscribe(kind: str, handler: Handler) -> None:
    if handler in _handlers[kind]:
        _handlers[kind].remove(handler)


def record(
    kind: str, organization_id: int, data: dict[str, Any], *, conversation_id: int | None = None
) -> int:
    """Write the event in the caller's transaction; it is dispatched once that commits."""
    event = OutboxEvent.objects.create(
        kind=kind, organization_id=organization_id, conversation_id=conversation_id, data=data
    )
    if not _skip_dispatch_on_commit:
        transaction.on_commit(partial(dispatch, event.pk))
    return event.pk


def dispatch(event_id: int) -> bool:
    """Deliver one owed event to its subscribers; False when there was nothing to do (already
    dispatched, dead, or being dispatched by someone else right now) or a subscriber failed."""
    try:
        with transaction.atomic():
            row = (
                OutboxEvent.objects.select_for_update(skip_locked=True)
                .filter(pk=event_id, dispatched_at__isnull=True, dead_at__isnull=True)
                .first()
            )
            if row is None:
                return False
            event = Event(
                row.pk,
                row.kind,
                row.organization_id,
                row.conversation_id,
                row.data,
                row.created_at,
            )
            for handler in list(_handlers.get(row.kind, ())):
                handler(event)
            OutboxEvent.objects.filter(pk=row.pk).update(
                dispatched_at=timezone.now(), attempts=F("attempts") + 1
            )
    except Exception as exc:  # noqa: BLE001 - any subscriber's failure: retried, never raised
        _failed(event_id, exc)
        return False
    return True


def _backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2**attempts, 3600))


def _failed(event_id: int, exc: Exception) -> None:
    with transaction.atomic():
        row = (
            OutboxEvent.objects.select_for_update()
            .filter(pk=event_id, dispatched_at__isnull=True, dead_at__isnull=True)
            .first()
        )
        if row is None:
            return
        row.attempts += 1
        row.last_error = f"{type(exc).__name__}: {exc}"[:1000]
        now = timezone.now()
        row.next_attempt_at = now + _backoff(row.attempts)
        if row.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
            row.dead_at = now
            log.error(
                "outbox event %s (%s) is dead after %s attempts", row.pk, row.kind, row.attempts
            )
        else:
            log.warning(
                "outbox event %s (%s) failed, retried later", row.pk, row.kind, exc_info=exc
            )
        row.save(update_fields=["attempts", "last_error", "next_attempt_at", "dead_at"])


def owed_event_ids(*, older_than: timedelta, limit: int = 500) -> list[int]:
    """Events still owed whose on-commit dispatch should have happened by now."""
    now = timezone.now()
    return list(
        OutboxEvent.objects.filter(
            dispatched_at__isnull=True,
            dead_at__isnull=True,
            next_attempt_at__lte=now,
            created_at__lte=now - older_than,
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )


def sweep(*, older_than: timedelta | None = None) -> int:
    """Beat: dispatch what a crash (or a failing subscriber) left owed; prune the old tail."""
    if older_than is None:
        older_than = timedelta(seconds=settings.OUTBOX_SWEEP_AFTER_S)
    done = sum(dispatch(event_id) for event_id in owed_event_ids(older_than=older_than))
    OutboxEvent.objects.filter(
        dispatched_at__lt=timezone.now() - timedelta(seconds=settings.OUTBOX_KEEP_S)
    ).delete()
    return done


def redact(conversation_ids: Iterable[int], replacement: dict[str, Any]) -> int:
    """Erasure: the events of these conversations keep their kind, their data is replaced."""
    return OutboxEvent.objects.filter(conversation_id__in=list(conversation_ids)).update(
        data=replacement
    )


@contextmanager
def skipping_dispatch_on_commit() -> Iterator[None]:
    """Fault injection for tests only: events recorded inside are left for the sweep, as a
    process killed between its commit and its dispatch would leave them."""
    global _skip_dispatch_on_commit
    _skip_dispatch_on_commit = True
    try:
        yield
    finally:
        _skip_dispatch_on_commit = False
