"""The conversation log's domain events: their kinds, their payloads, and recording them.

Every producer (the conversation services here, the reply pipeline in bots, desk's moves)
calls one of these in the transaction that makes the change; core.outbox dispatches them
after commit to their subscribers (api's webhooks, analytics' dirty hours, desk's
after-reply handoff rules). The payloads are the webhooks' `data` (docs/api.md), frozen at
the change, so a receiver sees the row as it was when the event happened.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from core import outbox

from .attachments import attachment_metadata
from .models import Attachment, Contact, Conversation, Feedback, Message

CONVERSATION_CREATED = "conversation.created"
HANDOFF_REQUESTED = "handoff.requested"  # bot → waiting
CONVERSATION_RESOLVED = "conversation.resolved"
# Not a webhook: any other move of its status (take, hand back, reopen), for the rollups.
CONVERSATION_MOVED = "conversation.moved"
MESSAGE_CREATED = "message.created"  # customer and agent messages; bot replies once final/failed
FEEDBACK_CREATED = "feedback.created"
FEEDBACK_CHANGED = "feedback.changed"  # not a webhook: a rating given again
CONTACT_ERASED = "contact.erased"  # not a webhook: copies of the contact's words are redacted
ERASED = {"erased": True}


def conversation_data(conversation: Conversation) -> dict[str, Any]:
    return {
        "conversation_id": conversation.pk,
        "bot_id": conversation.bot_id,
        "contact_id": conversation.contact_id,
        "status": conversation.status,
        "handoff_reason": conversation.handoff_reason,
        "assignee_id": conversation.assignee_id,
    }


def message_data(message: Message) -> dict[str, Any]:
    data: dict[str, Any] = {
        "message_id": message.pk,
        "conversation_id": message.conversation_id,
        "seq": message.seq,
        "role": message.role,
        "status": message.status,
        "text": message.text,
        "created_at": message.created_at,
        "attachments": [],
    }
    if message.role in (Message.Role.USER, Message.Role.AGENT):
        # Metadata and a signed, expiring link; never the bytes (docs/api.md). Their text is
        # read later (`GET /api/conversations/{id}/messages` has it, with fresh links).
        data["attachments"] = [
            attachment_metadata(a, with_text=False)
            for a in Attachment.objects.filter(message_id=message.pk).order_by("pk")
        ]
    return data


def _conversation_event(kind: str, conversation: Conversation) -> None:
    outbox.record(
        kind,
        conversation.organization_id,
        conversation_data(conversation),
        conversation_id=conversation.pk,
    )


def conversation_created(conversation: Conversation) -> None:
    _conversation_event(CONVERSATION_CREATED, conversation)


def handoff_requested(conversation: Conversation) -> None:
    """`conversation` as it is after the move (status waiting, its reason)."""
    _conversation_event(HANDOFF_REQUESTED, conversation)


def conversation_resolved(conversation: Conversation) -> None:
    _conversation_event(CONVERSATION_RESOLVED, conversation)


def conversation_moved(
    conversation: Conversation, status: str, was_resolved_at: datetime | None = None
) -> None:
    """Its status moved to `status` other than by a handoff request or a resolve."""
    outbox.record(
        CONVERSATION_MOVED,
        conversation.organization_id,
        {"conversation_id": conversation.pk, "status": status, "was_resolved_at": was_resolved_at},
        conversation_id=conversation.pk,
    )


def message_created(message: Message, organization_id: int | None = None) -> None:
    """A customer's or agent's message stored, or a bot reply that became final or failed
    (`message` as it is now: re-read it after an `update()`)."""
    if organization_id is None:
        cached = message._state.fields_cache.get("conversation")
        organization_id = (
            cached.organization_id
            if cached is not None
            else Conversation.objects.values_list("organization_id", flat=True).get(
                pk=message.conversation_id
            )
        )
    outbox.record(
        MESSAGE_CREATED,
        organization_id,
        message_data(message),
        conversation_id=message.conversation_id,
    )


def feedback_recorded(feedback: Feedback, conversation: Conversation, *, created: bool) -> None:
    outbox.record(
        FEEDBACK_CREATED if created else FEEDBACK_CHANGED,
        conversation.organization_id,
        {
            "feedback_id": feedback.pk,
            "message_id": feedback.message_id,
            "conversation_id": conversation.pk,
            "rating": feedback.rating,
            "comment": feedback.comment,
        },
        conversation_id=conversation.pk,
    )


def contact_erased(contact: Contact, conversation_ids: list[int], hours: list[datetime]) -> None:
    """Call before the rows go: the events of the contact's conversations lose their words
    now, subscribers redact their own copies (webhook payloads) and recount `hours`."""
    outbox.redact(conversation_ids, ERASED)
    outbox.record(
        CONTACT_ERASED,
        contact.organization_id,
        {"contact_id": contact.pk, "conversation_ids": conversation_ids, "hours": hours},
    )
