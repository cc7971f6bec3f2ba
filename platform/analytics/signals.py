"""Mark rollup hours stale as the raw log changes, and schedule a refresh for new marks.

Writes made with `QuerySet.update()` (a bot reply finishing) send no signal; the periodic
refresh re-marks the current and previous hour of every active organization for those.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db import transaction
from django.db.models import Model
from django.db.models.signals import post_delete, post_save

from memory.conversations.models import Conversation, Feedback, Message

from .rollups import mark_dirty


def _schedule() -> None:
    from .tasks import refresh_rollups

    # A short delay batches a burst of messages into one refresh.
    transaction.on_commit(lambda: refresh_rollups.apply_async(countdown=5))


def _mark(org_id: int, *moments: Any) -> None:
    if mark_dirty(org_id, moments):
        _schedule()


def _message_changed(sender: type[Model], instance: Message, **kwargs: Any) -> None:
    if instance.status == Message.Status.STREAMING:
        # A reply being generated counts in no rollup: replies count once final or failed,
        # and that write is an update(), whose hour the periodic sweep marks. Every reply's
        # claim creates one of these, on the reply's path: no statement for it.
        return
    cached = instance._state.fields_cache.get("conversation")
    org_id = (
        cached.organization_id
        if cached is not None
        else Conversation.objects.filter(pk=instance.conversation_id)
        .values_list("organization_id", flat=True)
        .first()
    )
    if org_id is not None:
        _mark(org_id, instance.created_at)


def _conversation_changed(sender: type[Model], instance: Conversation, **kwargs: Any) -> None:
    _mark(instance.organization_id, instance.created_at, instance.resolved_at)


def _feedback_changed(sender: type[Model], instance: Feedback, **kwargs: Any) -> None:
    row = (
        Message.objects.filter(pk=instance.message_id)
        .values_list("conversation__organization_id", "created_at", "reply_to__created_at")
        .first()
    )
    if row is not None:
        org_id, answered_at, asked_at = row
        _mark(org_id, instance.created_at, answered_at, asked_at)


def _csat_changed(sender: type[Model], instance: Any, **kwargs: Any) -> None:
    row = (
        Conversation.objects.filter(pk=instance.conversation_id)
        .values_list("organization_id", flat=True)
        .first()
    )
    if row is not None:
        _mark(row, instance.created_at)


def connect() -> None:
    for signal in (post_save, post_delete):
        signal.connect(_message_changed, sender=Message, dispatch_uid=f"an.msg.{signal}")
        signal.connect(_conversation_changed, sender=Conversation, dispatch_uid=f"an.conv.{signal}")
        signal.connect(_feedback_changed, sender=Feedback, dispatch_uid=f"an.fb.{signal}")
    try:
        csat = apps.get_model("desk", "Csat")
    except LookupError:
        return
    post_save.connect(_csat_changed, sender=csat, dispatch_uid="an.csat")
