"""Reads of the conversation log."""

from __future__ import annotations

from typing import NamedTuple

from django.db import connection
from django.db.models import QuerySet

from .models import Attachment, Conversation, Feedback, Message


class AttachedText(NamedTuple):
    """What a prompt sees of a message's file: never the file, only what was read from it."""

    kind: str
    name: str
    status: str
    text: str


class Turn(NamedTuple):
    """One message as a prompt sees it."""

    seq: int
    role: str
    text: str
    attached: tuple[AttachedText, ...] = ()


def messages_after(conversation: Conversation, seq: int) -> QuerySet[Message]:
    return (
        Message.objects.filter(conversation=conversation, seq__gt=seq)
        .select_related("author")
        .order_by("seq")
    )


def feedback_by_message(conversation: Conversation, message_ids: list[int]) -> dict[int, str]:
    rows = Feedback.objects.filter(
        message_id__in=message_ids, contact_id=conversation.contact_id
    ).values_list("message_id", "rating")
    return dict(rows)


def recent_turns(conversation_id: int, up_to_seq: int, limit: int) -> list[Turn]:
    """The newest `limit` stored messages up to `up_to_seq`, oldest first: a reply's prompt.

    Replies still being generated and failed ones are left out. Plain SQL and tuples: every
    reply reads this, and a long conversation's rows as model instances cost milliseconds.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT m.seq, m.role, m.text, (SELECT json_agg(json_build_array("  # noqa: S608
            " a.kind, a.name, a.status, a.text) ORDER BY a.id)"
            f" FROM {Attachment._meta.db_table} a WHERE a.message_id = m.id)"
            f" FROM {Message._meta.db_table} m"
            " WHERE m.conversation_id = %s AND m.seq <= %s AND m.status NOT IN (%s, %s)"
            " ORDER BY m.seq DESC LIMIT %s",
            [
                conversation_id,
                up_to_seq,
                Message.Status.STREAMING,
                Message.Status.FAILED,
                limit,
            ],
        )
        rows = cursor.fetchall()
    return [
        Turn(seq, role, text, tuple(AttachedText(*a) for a in attached or ()))
        for seq, role, text, attached in reversed(rows)
    ]


def message_for_frame(message_id: int) -> Message | None:
    """A stored message with what its frame names (the agent who wrote it, its files), or None."""
    return (
        Message.objects.select_related("author")
        .prefetch_related("attachments")
        .filter(pk=message_id)
        .first()
    )


def is_stored(conversation_id: int, client_id: str) -> bool:
    """Whether the customer's message with this client id is stored already (a resend)."""
    return Message.objects.filter(conversation_id=conversation_id, client_id=client_id).exists()


def resume_snapshot(
    conversation_id: int, last_seq: int
) -> tuple[list[Message], dict[int, str], int]:
    """What a socket that resumes after `last_seq` is missing: (the messages, the customer's
    ratings of them, the conversation's last seq now)."""
    conversation = Conversation.objects.get(pk=conversation_id)
    messages = list(messages_after(conversation, last_seq).prefetch_related("attachments"))
    ratings = feedback_by_message(conversation, [m.pk for m in messages])
    return messages, ratings, conversation.last_seq
