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


def allocate_seq(conversation_id: int) -> int:
    """Next seq of the conversation; call inside a transaction (the row lock orders writers)."""
    Conversation.objects.filter(pk=conversation_id).update(last_seq=F("last_seq") + 1)
    return Conversation.objects.filter(pk=conversation_id).values_list("last_seq", flat=True).get()


def record_user_message(
    conversation: Conversation, client_id: str, text: str
) -> tuple[Message, bool]:
    """Store a customer message once per client id; returns (message, created).

    Committed before the caller acknowledges; a resend of the same client id returns the
    stored message instead of making a second one.
    """
    with transaction.atomic():
        # Lock the conversation row: concurrent sends get distinct, gap-free seqs and a
        # resend racing its original sees the first insert.
        Conversation.objects.select_for_update().filter(pk=conversation.pk).first()
        existing = Message.objects.filter(conversation=conversation, client_id=client_id).first()
        if existing is not None:
            return existing, False
        message = Message.objects.create(
            conversation=conversation,
            seq=allocate_seq(conversation.pk),
            role=Message.Role.USER,
            text=text,
            status=Message.Status.RECEIVED,
            client_id=client_id,
        )
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
