"""Reads of long-term memory: what goes into a reply's prompt, the widget's "What we remember"
list, and the export. Every query is filtered by the one contact in SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone
from pgvector.django import CosineDistance

from memory.conversations.attachments import attachment_metadata
from memory.conversations.models import Contact, Conversation, Feedback, Message
from memory.conversations.sources import Source
from memory.embeddings import embed_one

from .models import ConversationSummary, MemoryItem, Preference


@dataclass
class Recall:
    memories: list[str] = field(default_factory=list)
    preferences: dict[str, str] = field(default_factory=dict)
    sources: list[Source] = field(default_factory=list)  # past conversations, kind "conversation"


def recall(
    conversation: Conversation, question: str, *, preferences: dict[str, str], searchable: bool
) -> Recall:
    """This contact's most relevant facts and past-conversation summaries, and preferences.

    `preferences` and `searchable` (the contact has memories or summaries): what the reply
    already read of this contact (`bots.context.what_is_stored`); nothing is searched (or
    embedded) when there is nothing to search.
    """
    contact_id = conversation.contact_id
    items = MemoryItem.objects.filter(contact_id=contact_id)
    summaries = ConversationSummary.objects.filter(
        contact_id=contact_id,
        conversation__bot_id=conversation.bot_id,
        embedding__isnull=False,
    ).exclude(conversation_id=conversation.pk)
    result = Recall(preferences=dict(preferences))
    if not searchable:
        return result
    vector = [float(x) for x in embed_one(question)]
    limit = settings.LONGTERM_RECALL_FACTS
    ranked = items.annotate(distance=CosineDistance("embedding", vector)).order_by(
        "distance", "-updated_at"
    )
    result.memories = [item.text for item in ranked[:limit]]
    min_similarity = settings.LONGTERM_MIN_SIMILARITY
    for summary in (
        summaries.select_related("conversation")
        .annotate(distance=CosineDistance("embedding", vector))
        .order_by("distance")[: settings.LONGTERM_RECALL_CONVERSATIONS]
    ):
        similarity = 1.0 - float(summary.distance)
        if similarity < min_similarity:
            continue
        day = chat_day(summary.conversation.created_at)
        result.sources.append(
            Source(
                kind="conversation",
                title=f"Your chat on {day}",
                snippet=summary.text[:300],
                text=f"From the customer's chat on {day}: {summary.text}",
                score=similarity,
                ref={"conversation_id": summary.conversation_id},
            )
        )
    return result


def chat_day(started_at: datetime) -> str:
    """'3 May' this year, '3 May 2025' before, in the server's time zone."""
    local = timezone.localtime(started_at)
    if local.year == timezone.localtime().year:
        return f"{local.day} {local:%b}"
    return f"{local.day} {local:%b %Y}"


def memory_listing(contact_id: int) -> dict[str, Any]:
    """The `memory` frame's payload (docs/protocol.md): facts, preferences, summaries."""
    items = [
        {
            "id": item.pk,
            "kind": item.key,
            "text": item.text,
            "origin": item.origin,
            "created_at": item.updated_at.isoformat(),
        }
        for item in MemoryItem.objects.filter(contact_id=contact_id).order_by("key")
    ]
    preferences = {
        p.name: {"value": p.value, "origin": p.origin}
        for p in Preference.objects.filter(contact_id=contact_id).order_by("name")
    }
    summaries = [
        {
            "id": s.pk,
            "conversation_id": s.conversation_id,
            "title": f"Your chat on {chat_day(s.conversation.created_at)}",
            "text": s.text,
            "created_at": s.updated_at.isoformat(),
        }
        for s in ConversationSummary.objects.filter(contact_id=contact_id)
        .select_related("conversation")
        .order_by("-conversation__created_at")
    ]
    return {"items": items, "preferences": preferences, "summaries": summaries}


def export_contact(contact_id: int) -> dict[str, Any]:
    """Everything stored about this contact, as JSON-ready data, and nothing about anyone else.

    Embeddings are left out (they are derived from the texts included here).
    """
    contact = Contact.objects.get(pk=contact_id)
    conversations = []
    for conversation in Conversation.objects.filter(contact_id=contact_id).order_by("created_at"):
        conversations.append(
            {
                "id": conversation.pk,
                "started_at": conversation.created_at.isoformat(),
                "status": conversation.status,
                "messages": [
                    {
                        "seq": m.seq,
                        "role": m.role,
                        "text": m.text,
                        "created_at": m.created_at.isoformat(),
                        # The files: what they are, what was read from them and a signed
                        # link (valid for SWITCHBOARD_ATTACHMENT_URL_TTL_S), not the bytes.
                        "attachments": [
                            {**attachment_metadata(a), "created_at": a.created_at.isoformat()}
                            for a in m.attachments.all()
                        ],
                    }
                    for m in Message.objects.filter(conversation=conversation)
                    .prefetch_related("attachments")
                    .order_by("seq")
                ],
            }
        )
    feedback = [
        {
            "message_id": f.message_id,
            "rating": f.rating,
            "comment": f.comment,
            "created_at": f.created_at.isoformat(),
        }
        for f in Feedback.objects.filter(contact_id=contact_id).order_by("created_at")
    ]
    listing = memory_listing(contact_id)
    return {
        "contact": {
            "user_id": contact.external_id,
            "name": contact.name,
            "email": contact.email,
            "created_at": contact.created_at.isoformat(),
        },
        "facts": [
            {
                "id": item.pk,
                "kind": item.key,
                "text": item.text,
                "origin": item.origin,
                "source_message_id": item.source_message_id,
                "created_at": item.updated_at.isoformat(),
            }
            for item in MemoryItem.objects.filter(contact_id=contact_id).order_by("key")
        ],
        "preferences": listing["preferences"],
        "conversation_summaries": listing["summaries"],
        "conversations": conversations,
        "feedback": feedback,
    }
