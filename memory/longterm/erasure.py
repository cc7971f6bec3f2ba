"""Forgetting on request: one fact, one summary, one preference, or everything."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.db.models.functions import TruncHour

from memory.conversations import events
from memory.conversations.attachments import delete_files_on_commit
from memory.conversations.models import Attachment, Contact, Conversation, Feedback, Message

from .models import ConversationSummary, MemoryItem, Preference

log = logging.getLogger(__name__)


def forget_item(contact: Contact, item_id: int) -> bool:
    """Delete one fact of this contact (a foreign id deletes nothing, like a missing one)."""
    deleted, _ = MemoryItem.objects.filter(contact=contact, pk=item_id).delete()
    return bool(deleted)


def forget_summary(contact: Contact, summary_id: int) -> bool:
    deleted, _ = ConversationSummary.objects.filter(contact=contact, pk=summary_id).delete()
    return bool(deleted)


def forget_preference(contact: Contact, name: str) -> bool:
    deleted, _ = Preference.objects.filter(contact=contact, name=name).delete()
    return bool(deleted)


def forget_everything(contact: Contact, *, messages: bool = False) -> None:
    """Erase the contact's memory; with `messages`, the contact itself and all it owns."""
    with transaction.atomic():
        if messages:
            conversations = Conversation.objects.filter(contact=contact)
            # The outbox's copies of the contact's words go now; the `contact.erased` event
            # has webhook payloads redacted and the hours the contact counted in recounted.
            events.contact_erased(
                contact, list(conversations.values_list("pk", flat=True)), _hours_of(contact)
            )
            # Their files go too, once the rows are gone for good (on commit).
            delete_files_on_commit(
                list(
                    Attachment.objects.filter(conversation__contact=contact).values_list(
                        "key", flat=True
                    )
                )
            )
            # Cascades to conversations, messages, feedback, memory, summaries, preferences
            # and any other app's rows that hang off the contact or its conversations
            # (handoffs and their summaries, notes, lookups, knowledge gaps, CSAT …).
            Contact.objects.filter(pk=contact.pk).delete()
            return
        MemoryItem.objects.filter(contact=contact).delete()
        ConversationSummary.objects.filter(contact=contact).delete()
        Preference.objects.filter(contact=contact).delete()


def _hours_of(contact: Contact) -> list[datetime]:
    """The hours in which the contact's conversations, messages and feedback happened."""
    moments = [
        Conversation.objects.filter(contact=contact).annotate(h=TruncHour("created_at")),
        Conversation.objects.filter(contact=contact, resolved_at__isnull=False).annotate(
            h=TruncHour("resolved_at")
        ),
        Message.objects.filter(conversation__contact=contact).annotate(h=TruncHour("created_at")),
        Feedback.objects.filter(contact=contact).annotate(h=TruncHour("created_at")),
    ]
    return sorted({hour for query in moments for hour in query.values_list("h", flat=True)})
