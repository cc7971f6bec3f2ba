"""Summaries of ended conversations, recalled in later ones (the model writes the text:
bots.memory_model; this module picks the conversations and stores the result)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import Max
from django.utils import timezone

from memory.conversations.models import Conversation, Message
from memory.embeddings import embed_texts

from .models import ConversationSummary

if TYPE_CHECKING:  # a bot is named by its row ("bots.Bot"): bots sit above this layer
    pass

log = logging.getLogger(__name__)


def ended_conversations_to_summarise(limit: int = 20) -> list[int]:
    """Resolved or idle conversations whose newest messages have no summary yet."""
    idle_since = timezone.now() - timedelta(minutes=settings.LONGTERM_IDLE_MINUTES)
    candidates = (
        Conversation.objects.filter(messages__role=Message.Role.USER)
        .annotate(last_message_at=Max("messages__created_at"))
        .filter(
            models.Q(status=Conversation.Status.RESOLVED) | models.Q(last_message_at__lt=idle_since)
        )
        .exclude(summary__through_seq__gte=models.F("last_seq"))
        .order_by("last_message_at")
        .values_list("pk", flat=True)
        .distinct()
    )
    return list(candidates[:limit])


def transcript(messages: Iterable[Message]) -> str:
    speaker = {Message.Role.USER: "Customer", Message.Role.BOT: "Bot", Message.Role.AGENT: "Agent"}
    return "\n".join(
        f"{speaker[m.role]}: {m.text[:600]}"  # type: ignore[index]
        for m in messages
        if m.role in speaker and m.text and m.status != Message.Status.FAILED
    )


def save_summary(
    conversation: Conversation, text: str, customer_said: list[str]
) -> ConversationSummary:
    """Store (or refresh) the summary of `conversation` up to its last message, embedded with the
    customer's own words too, so recall does not hinge on the model's wording of the summary."""
    [embedding] = embed_texts([text + "\n" + " ".join(customer_said)[:1500]])
    summary, _ = ConversationSummary.objects.update_or_create(
        conversation=conversation,
        defaults={
            "contact_id": conversation.contact_id,
            "text": text[:2000],
            "through_seq": conversation.last_seq,
            "embedding": embedding,
        },
    )
    return summary
