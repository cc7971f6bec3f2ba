"""Writes to the conversation log: visitors, conversations, user messages, feedback."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from django.db import connection, transaction
from django.db.models import F

from core.realtime import publish_message_stored
from core.rows import Columns, cache_related, insert_columns, mark_inserted

from . import events
from .attachments import link_attachments
from .models import Contact, Conversation, Feedback, Message

if TYPE_CHECKING:  # a bot is named by its row ("bots.Bot"): bots sit above this layer
    from bots.models import Bot


class NotFound(Exception):
    """The object does not exist for this caller (foreign and missing look the same)."""


def find_open_conversation(bot: Bot, visitor_id: str) -> Conversation | None:
    """The visitor's current (unresolved) conversation with this bot, if any; writes nothing."""
    return (
        Conversation.objects.filter(
            bot=bot, contact__organization_id=bot.organization_id, contact__visitor_id=visitor_id
        )
        .exclude(status=Conversation.Status.RESOLVED)
        .order_by("-created_at")
        .first()
    )


def open_conversation(bot: Bot, visitor_id: str) -> Conversation:
    """The visitor's current conversation with this bot, created (with the contact) if none.

    The widget socket calls this on the customer's first message, not on connect, so
    `conversation.created` fires only for real conversations (find_open_conversation reads).
    """
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
        with transaction.atomic():
            conversation = Conversation.objects.create(
                organization_id=bot.organization_id, bot=bot, contact=contact
            )
            events.conversation_created(conversation)
    return conversation


def allocate_seq(conversation_id: int) -> int:
    """Next seq of the conversation; call inside a transaction (the row lock orders writers)."""
    updated = Conversation.objects.filter(pk=conversation_id).update(last_seq=F("last_seq") + 1)
    if not updated:
        raise Conversation.DoesNotExist(conversation_id)
    return Conversation.objects.values_list("last_seq", flat=True).get(pk=conversation_id)


_CONVERSATION = Columns(Conversation, "c")


def append_message(message: Message) -> Conversation | None:
    """INSERT `message` as its conversation's next seq, and return the conversation as it is now.

    One statement takes the seq, and with it the conversation's row lock (held until the
    transaction ends: concurrent writers get distinct, gap-free seqs), and inserts the row:
    every customer message and every reply goes through here, so it is written as SQL
    (core.rows); its caller records the message's event. None when the message's client
    id is already stored (a resend): nothing inserted, the seq given back.
    Call inside a transaction.
    """
    columns, values, params = insert_columns(message, {"seq": "c.last_seq"})
    sql = (
        f"WITH c AS (UPDATE {Conversation._meta.db_table} SET last_seq = last_seq + 1"  # noqa: S608
        " WHERE id = %s RETURNING *),"
        f" m AS (INSERT INTO {Message._meta.db_table} ({', '.join(columns)})"
        f" SELECT {', '.join(values)} FROM c"
        " ON CONFLICT (conversation_id, client_id) WHERE client_id IS NOT NULL DO NOTHING"
        " RETURNING id)"
        f" SELECT {_CONVERSATION.sql}, (SELECT id FROM m) FROM c"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [message.conversation_id, *params])
        row = cursor.fetchone()
        if row is None:
            raise Conversation.DoesNotExist(message.conversation_id)
        current = _CONVERSATION.load(row)
        if row[-1] is None:
            cursor.execute(
                f"UPDATE {Conversation._meta.db_table} SET last_seq = last_seq - 1"  # noqa: S608
                " WHERE id = %s",
                [current.pk],
            )
            return None
    message.seq = current.last_seq
    cache_related(message, "conversation", current)
    mark_inserted(message, row[-1])
    return current


def record_user_message(
    conversation: Conversation,
    client_id: str,
    text: str,
    *,
    announce: bool = True,
    attachment_ids: Sequence[int] = (),
) -> tuple[Message, bool]:
    """Store a customer message once per client id; returns (message, created).

    The uploads it sends (`attachment_ids`) are linked before its event is recorded, so the
    webhook's payload lists them.

    Committed before the caller acknowledges; a resend of the same client id returns the
    stored message instead of making a second one. `announce=False` leaves publishing the
    stored message to the caller (after its own, more urgent, on-commit work).
    """
    with transaction.atomic(savepoint=False):
        # A resend (rare) finds its client id taken: `append_message` inserts nothing then,
        # also when it races its original (it waits on the conversation's row lock first).
        # The stored message carries the row as read under that lock (`message.conversation`).
        message = Message(
            conversation_id=conversation.pk,
            role=Message.Role.USER,
            text=text,
            status=Message.Status.RECEIVED,
            client_id=client_id,
        )
        if append_message(message) is None:
            return Message.objects.get(conversation=conversation, client_id=client_id), False
        link_attachments(message, attachment_ids)
        events.message_created(message)
        if announce:
            publish_message_stored(conversation.pk, message.pk)
    return message, True


def record_feedback(contact: Contact, message_id: int, rating: str, comment: str = "") -> Feedback:
    """One rating per message per contact; rating again changes it."""
    message = (
        Message.objects.filter(pk=message_id, role=Message.Role.BOT, conversation__contact=contact)
        .select_related("conversation")
        .first()
    )
    if message is None:
        raise NotFound("message")
    with transaction.atomic():
        feedback, created = Feedback.objects.update_or_create(
            message=message, contact=contact, defaults={"rating": rating, "comment": comment}
        )
        events.feedback_recorded(feedback, message.conversation, created=created)
    return feedback
