"""Remembered facts about a contact: found by rules in the customer's own words (the model's
extraction, bots.memory_model, stores through `remember_fact` too)."""

from __future__ import annotations

import json
import logging
import re
from typing import TYPE_CHECKING

from memory.conversations.models import Contact, Message
from memory.embeddings import embed_texts

from .models import MemoryItem, Origin
from .preferences import learn_preference
from .rules import extract_facts, fact_text

if TYPE_CHECKING:  # a bot is named by its row ("bots.Bot"): bots sit above this layer
    pass

log = logging.getLogger(__name__)


# Facts the model may fill (rules cover name, language, channel, plan, card).
MODEL_KEYS = ("city", "employer")


# Only a message that says something about the speaker is worth a model call.
_FIRST_PERSON = re.compile(r"\b(I|I'm|I've|I'd|me|my|mine|we|our)\b", re.IGNORECASE)


def remember_fact(
    contact: Contact, key: str, value: str, *, origin: str, source: Message | None = None
) -> MemoryItem:
    """Store a fact with its embedding; the same key again replaces the old value."""
    text = fact_text(key, value)
    [embedding] = embed_texts([text])
    item, _ = MemoryItem.objects.update_or_create(
        contact=contact,
        key=key,
        defaults={
            "value": value[:200],
            "text": text[:300],
            "origin": origin,
            "source_message": source,
            "embedding": embedding,
        },
    )
    return item


def remember_from_message(message_id: int) -> list[str]:
    """Apply the deterministic rules to a customer's message; returns the keys stored."""
    message = (
        Message.objects.select_related("conversation__contact")
        .filter(pk=message_id, role=Message.Role.USER)
        .first()
    )
    if message is None:
        return []
    contact = message.conversation.contact
    stored = []
    for fact in extract_facts(message.text):
        if fact.is_preference:
            if learn_preference(contact, fact.key, fact.value, source=message) is not None:
                stored.append(fact.key)
        else:
            remember_fact(contact, fact.key, fact.value, origin=Origin.RULE, source=message)
            stored.append(fact.key)
    return stored


def worth_a_model_look(text: str) -> bool:
    return bool(_FIRST_PERSON.search(text))


EXTRACTION_SCHEMA = {
    "type": "object",
    "properties": {key: {"type": "string", "maxLength": 60} for key in MODEL_KEYS},
    "required": list(MODEL_KEYS),
}


# Few-shot examples: a 135M model follows a shown answer far better than a described one.
EXTRACTION_EXAMPLES = [
    ("I live in Madrid and my card was declined.", {"city": "Madrid", "employer": ""}),
    ("My company is Globex, can I get a business account?", {"city": "", "employer": "Globex"}),
    ("Where is my card? It has not arrived.", {"city": "", "employer": ""}),
]


def grounded_facts(raw: str, text: str) -> dict[str, str]:
    """The model's answer, kept only where the value is the customer's own words.

    A small model fills fields it should leave empty; a value that is not in the message,
    or that the model put under more than one key, is dropped.
    """
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    if not isinstance(data, dict):
        return {}
    values = {key: data.get(key) for key in MODEL_KEYS}
    strings = {k: v.strip(" .,!") for k, v in values.items() if isinstance(v, str)}
    counts: dict[str, int] = {}
    for value in strings.values():
        counts[value.lower()] = counts.get(value.lower(), 0) + 1
    lowered = text.lower()
    return {
        key: value
        for key, value in strings.items()
        if 2 <= len(value) <= 60
        and counts[value.lower()] == 1
        and re.search(rf"\b{re.escape(value.lower())}\b", lowered)
    }
