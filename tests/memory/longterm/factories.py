"""Contacts with memory, built through the real services (for the long-term memory tests)."""

from __future__ import annotations

import uuid

from bots.models import Bot
from memory.conversations.models import Conversation, Message
from memory.conversations.services import open_conversation, record_user_message


def say(conversation: Conversation, text: str) -> Message:
    message, _ = record_user_message(conversation, uuid.uuid4().hex[:16], text)
    return message


def reply(conversation: Conversation, to: Message, text: str) -> Message:
    from memory.conversations.services import allocate_seq

    return Message.objects.create(
        conversation=conversation,
        seq=allocate_seq(conversation.pk),
        role=Message.Role.BOT,
        status=Message.Status.FINAL,
        text=text,
        reply_to=to,
    )


def visitor_conversation(bot: Bot, visitor_id: str | None = None) -> Conversation:
    """The visitor's open conversation (a new visitor unless `visitor_id` is given)."""
    return open_conversation(bot, visitor_id or uuid.uuid4().hex)


def resolve(conversation: Conversation) -> None:
    conversation.status = Conversation.Status.RESOLVED
    conversation.save(update_fields=["status"])
