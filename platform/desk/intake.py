"""A customer's message or rating arrives: store it, then route it, to the bot's reply or to
a person.

Desk sits above bots: the handoff rules decide, in the message's own transaction, whether the
bot answers at all.
"""

from __future__ import annotations

from collections.abc import Sequence

from celery import chain
from celery.canvas import Signature
from django.db import transaction
from django.db.models import prefetch_related_objects

from bots.tasks import generate_reply, queue_reply_early, remember_after_customer_message
from bots.topics.tasks import label_message
from core.realtime import publish_message_stored
from desk.services import (
    hand_off_after_customer_message,
    hand_off_after_feedback,
    reopen_if_resolved,
)
from memory.attachments.tasks import read_attachment
from memory.conversations.models import Attachment, Conversation, Message
from memory.conversations.services import record_feedback, record_user_message


def accept_customer_message(
    conversation: Conversation, client_id: str, text: str, attachment_ids: Sequence[int] = ()
) -> tuple[Message, bool]:
    """Store the customer's message (idempotent by client id) and queue the bot's reply.

    This is the first half of every reply's time to first token (docs/benchmarks.md): one
    transaction of a few statements. The reply's task leaves from inside it, as soon as the
    message is written (see `bots.services.queue_reply_early`); the rest of the side work on commit.

    A message with files waits for them to be read (OCR, transcript): the reply is chained
    behind the reading tasks instead (docs/attachments.md).
    """
    with transaction.atomic():
        message, created = record_user_message(
            conversation, client_id, text, announce=False, attachment_ids=attachment_ids
        )
        reads: list[Signature] = []
        if created and attachment_ids:
            reads = [
                read_attachment.si(a.pk)
                for a in message.attachments.filter(status=Attachment.Status.PENDING)
            ]
        if created:
            # Read under the row lock the seq allocation took: current, whatever the socket's
            # copy says (an agent took it, handed it back, resolved it).
            current = message.conversation
            if current.status == Conversation.Status.RESOLVED:
                reopen_if_resolved(current.pk)
                current.status = Conversation.Status.BOT
            if current.status == Conversation.Status.BOT and reads:
                if not hand_off_after_customer_message(current, message):
                    reads.append(generate_reply.si(message.pk))
            elif current.status == Conversation.Status.BOT:
                queued = queue_reply_early(message)
                # A handoff moves the conversation to a person in this transaction: the
                # early task's claim then finds it no longer the bot's and does nothing.
                if not hand_off_after_customer_message(current, message) and not queued:
                    generate_reply.delay_on_commit(message.pk)
            if reads:
                work = chain(*reads)
                transaction.on_commit(lambda: work.apply_async())
            # On-commit hooks run in order, each a Redis round trip: the sockets hear of the
            # message, then the side work (labels, memory) is queued. The stored event is not
            # waited for: the ordered publisher sends it before anything published later.
            publish_message_stored(conversation.pk, message.pk, wait=False)
            label_message.delay_on_commit(message.pk)
            remember_after_customer_message(message.pk, message.text)
    prefetch_related_objects([message], "attachments")  # for the acknowledgement
    return message, created


def rate_reply(conversation: Conversation, message_id: int, rating: str, comment: str = "") -> str:
    """Store the customer's rating of a bot reply (NotFound for a reply not theirs); a run of
    'not helpful' may hand the conversation to a person. Returns the rating stored."""
    stored = record_feedback(conversation.contact, message_id, rating, comment).rating
    if stored == "not_helpful":
        hand_off_after_feedback(conversation.pk)
    return stored
