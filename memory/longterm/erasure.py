"""Forgetting on request: one fact, one summary, one preference, or everything."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.db import models, transaction

from memory.conversations.models import Contact, Conversation

from .models import ConversationSummary, MemoryItem, Preference

if TYPE_CHECKING:  # a bot is named by its row ("bots.Bot"): bots sit above this layer
    pass

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
            redact_copies(contact)
            # Cascades to conversations, messages, feedback, memory, summaries, preferences
            # and any other app's rows that hang off the contact or its conversations
            # (handoffs and their summaries, notes, lookups, knowledge gaps, CSAT …).
            Contact.objects.filter(pk=contact.pk).delete()
            return
        MemoryItem.objects.filter(contact=contact).delete()
        ConversationSummary.objects.filter(contact=contact).delete()
        Preference.objects.filter(contact=contact).delete()


ERASED = {"erased": True}


def redact_copies(contact: Contact) -> int:
    """Redact the copies of the contact's words that no foreign key cascades to: webhook
    payloads (an outbox keeps what was sent). The delivery row stays, for the organization's
    delivery log, with its `data` replaced by {"erased": true}. Returns how many rows changed.
    """
    from django.apps import apps

    try:
        delivery_model = apps.get_model("api", "WebhookDelivery")
    except LookupError:
        return 0
    conversation_ids = list(
        Conversation.objects.filter(contact=contact).values_list("pk", flat=True)
    )
    copies = delivery_model._default_manager.filter(
        models.Q(payload__data__contact_id=contact.pk)
        | models.Q(payload__data__conversation_id__in=conversation_ids)
    ).only("pk", "payload")
    changed = []
    for delivery in copies:
        delivery.payload = {**delivery.payload, "data": ERASED}
        changed.append(delivery)
    delivery_model._default_manager.bulk_update(changed, ["payload"], batch_size=500)
    return len(changed)
