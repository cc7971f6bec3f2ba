"""Writes to the conversation log: visitors, conversations, user messages, feedback."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F

from bots.models import Bot
from switchboard.realtime import publish_message_stored

from .models import Contact, Conversation, Feedback, Message


class NotFound(Exception):
    """The object does not exist for this caller (foreign and missing look the same)."""


def open_conversation(bot: Bot, visitor_id: str) -> Conversation:
    """The visitor's current conversation with this bot, created on first contact."""
    contact, _ = Contact.objects.get_or_create(
        organization_id=bot.organization_id, visitor_id=visitor_id
    )
    conversation = (
        Conversation.objects.filter(bot=bot, contact=contact)
        .exclude(status=Conversation.Status.RESOLVED)
        .order_by("-created_at")
        .first()
    )
    if conversation is None:
        conversation = Conversation.objects.create(
            organization_id=bot.organization_id, bot=bot, contact=contact
        )
    return conversation


def advance_conversation(conversation_id: int) -> Conversation:
    """Lock the conversation row and take its next seq, in one statement: the row as it is now.

    Call inside a transaction (the row lock orders writers until it ends).
    """
    rows = list(
        Conversation.objects.raw(
            f"UPDATE {Conversation._meta.db_table} SET last_seq = last_seq + 1"  # noqa: S608
            " WHERE id = %s RETURNING *",
            [conversation_id],
        )
    )
    if not rows:
        raise Conversation.DoesNotExist(conversation_id)
    return rows[0]


def allocate_seq(conversation_id: int) -> int:
    """Next seq of the conversation; call inside a transaction (the row lock orders writers)."""
    return advance_conversation(conversation_id).last_seq


def record_user_message(
    conversation: Conversation, client_id: str, text: str, *, announce: bool = True
) -> tuple[Message, bool]:
    """Store a customer message once per client id; returns (message, created).

    Committed before the caller acknowledges; a resend of the same client id returns the
    stored message instead of making a second one. `announce=False` leaves publishing the
    stored message to the caller (after its own, more urgent, on-commit work).
    """
    with transaction.atomic(savepoint=False):
        # Allocating the seq locks the conversation row first: concurrent sends get distinct,
        # gap-free seqs, and a resend racing its original waits here, then sees its insert.
        # The stored message carries the row as read under that lock (`message.conversation`).
        current = advance_conversation(conversation.pk)
        existing = Message.objects.filter(conversation=conversation, client_id=client_id).first()
        if existing is not None:
            # Give the number back (the lock is still ours): seqs stay gap-free.
            Conversation.objects.filter(pk=conversation.pk).update(last_seq=F("last_seq") - 1)
            return existing, False
        message = Message.objects.create(
            conversation=current,
            seq=current.last_seq,
            role=Message.Role.USER,
            text=text,
            status=Message.Status.RECEIVED,
            client_id=client_id,
        )
        if announce:
            publish_message_stored(conversation.pk, message.pk)
    return message, True


def record_feedback(contact: Contact, message_id: int, rating: str, comment: str = "") -> Feedback:
    """One rating per message per contact; rating again changes it."""
    message = Message.objects.filter(
        pk=message_id, role=Message.Role.BOT, conversation__contact=contact
    ).first()
    if message is None:
        raise NotFound("message")
    feedback, _ = Feedback.objects.update_or_create(
        message=message, contact=contact, defaults={"rating": rating, "comment": comment}
    )
    return feedback
