"""The desk's side of a conversation's moves (memory.conversations.states): the handoff trip
with its summary, the audit row, and the status and queue events.

`take_conversation` is here, not in `services`, because auto-assignment (`assignment`) takes
conversations too and `services` queues auto-assignment passes.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from core.realtime import publish_to_conversation
from desk import events
from desk.models import AuditEvent, Handoff
from desk.summary import handoff_summary
from memory.conversations import states
from memory.conversations.models import Conversation

log = logging.getLogger(__name__)

Status = Conversation.Status


def audit(
    actor: User | None,
    organization_id: int,
    action: str,
    conversation: Conversation | None = None,
    **detail: Any,
) -> None:
    AuditEvent.objects.create(
        organization_id=organization_id,
        actor=actor,
        action=action,
        conversation=conversation,
        detail=detail,
    )


def status_changed(conversation_id: int, organization_id: int) -> None:
    publish_to_conversation(conversation_id, {"type": "conversation.status"})
    events.queue_changed(organization_id)


def queue_moved(organization_id: int, except_id: int) -> None:
    """Someone left the queue: every waiting customer of the organization gets a new position."""
    waiting = Conversation.objects.filter(
        organization_id=organization_id, status=Status.WAITING
    ).exclude(pk=except_id)
    for conversation_id in waiting.values_list("pk", flat=True)[:500]:
        publish_to_conversation(conversation_id, {"type": "conversation.status"})


def start_trip(conversation: Conversation, reason: str, **fields: Any) -> Handoff:
    """Open the trip with its summary (desk.summary) in one INSERT, in the caller's transaction:
    the summary is written once, and the agent has it as soon as the trip exists."""
    up_to_seq = conversation.last_seq
    try:
        # A savepoint: a summary that fails to build leaves the handoff's transaction usable.
        with transaction.atomic():
            summary = handoff_summary(conversation.pk, reason, up_to_seq)
    except Exception:
        # The handoff goes ahead without it, and the trip says its summary failed.
        log.exception("the handoff summary of conversation %s failed", conversation.pk)
        summary, status = "", Handoff.SummaryStatus.FAILED
    else:
        status = Handoff.SummaryStatus.DONE
    handoff = Handoff.objects.create(
        conversation=conversation,
        reason=reason,
        up_to_seq=up_to_seq,
        summary=summary,
        summary_status=status,
        **fields,
    )
    events.summary_ready(conversation.pk)
    return handoff


def end_trip(conversation: Conversation, **fields: Any) -> None:
    """Close the open trip (hand back, resolve), or give it its new agent (transfer)."""
    Handoff.objects.filter(conversation=conversation, ended_at__isnull=True).update(**fields)


def take_conversation(
    conversation: Conversation, agent: User, actor: User | None, action: str, **detail: Any
) -> bool:
    """Give the conversation an owner (`states.take`), inside the caller's transaction; False
    when someone else got there first. Every claim, takeover and auto-assignment goes through
    this one conditional UPDATE, so exactly one of them wins. `conversation` is the caller's
    read: it tells whether the conversation left the queue.
    """
    if not states.take(conversation, agent):
        return False
    now = timezone.now()
    open_trip = Handoff.objects.filter(conversation=conversation, ended_at__isnull=True)
    if not open_trip.update(claimed_at=now, agent=agent):
        start_trip(conversation, "agent_takeover", claimed_at=now, agent=agent)
    audit(actor, conversation.organization_id, action, conversation, **detail)
    status_changed(conversation.pk, conversation.organization_id)
    if conversation.status == Status.WAITING:
        queue_moved(conversation.organization_id, conversation.pk)
    return True


__all__ = ["audit", "end_trip", "queue_moved", "start_trip", "status_changed", "take_conversation"]
