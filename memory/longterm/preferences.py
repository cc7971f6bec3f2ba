"""A contact's preferences (language, tone, name, channel): learnt from what the customer
says, or set in the widget's "What we remember" panel."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.db import transaction

from memory.conversations.models import Contact, Message

from .models import Origin, Preference
from .rules import channel_name, language_name

if TYPE_CHECKING:  # a bot is named by its row ("bots.Bot"): bots sit above this layer
    pass

log = logging.getLogger(__name__)


TONES = {"brief", "detailed"}


PREFERENCE_NAMES = {choice.value for choice in Preference.Name}


class InvalidPreference(Exception):
    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


def outranks(kept: Preference, incoming: Preference) -> bool:
    explicit = Origin.EXPLICIT
    if (kept.origin == explicit) != (incoming.origin == explicit):
        return kept.origin == explicit
    return kept.updated_at >= incoming.updated_at


def learn_preference(
    contact: Contact, name: str, value: str, *, source: Message | None = None
) -> Preference | None:
    """A preference learned from what the customer said; never overrides an explicit one."""
    with transaction.atomic():
        existing = Preference.objects.select_for_update().filter(contact=contact, name=name).first()
        if existing is not None and existing.origin == Origin.EXPLICIT:
            return None
        preference, _ = Preference.objects.update_or_create(
            contact=contact,
            name=name,
            defaults={"value": value, "origin": Origin.RULE, "source_message": source},
        )
        return preference


def set_preferences(contact: Contact, values: dict[str, str]) -> list[Preference]:
    """Explicit preferences from the widget; an empty value clears that preference."""
    cleaned = {name: clean_preference(name, value) for name, value in values.items()}
    saved = []
    with transaction.atomic():
        for name, value in cleaned.items():
            if not value:
                Preference.objects.filter(contact=contact, name=name).delete()
                continue
            preference, _ = Preference.objects.update_or_create(
                contact=contact,
                name=name,
                defaults={"value": value, "origin": Origin.EXPLICIT, "source_message": None},
            )
            saved.append(preference)
    return saved


def clean_preference(name: str, value: str) -> str:
    value = value.strip()
    if name not in PREFERENCE_NAMES:
        raise InvalidPreference(name, f"unknown preference {name[:40]!r}")
    if not value:
        return ""
    if name == "language":
        language = language_name(value)
        if language is None:
            raise InvalidPreference(name, "'language' must be a language name or code")
        return language
    if name == "tone":
        if value not in TONES:
            raise InvalidPreference(name, "'tone' must be 'brief' or 'detailed'")
        return value
    if name == "channel":
        channel = channel_name(value)
        if channel is None:
            raise InvalidPreference(name, "'channel' must be email, phone, sms, whatsapp or chat")
        return channel
    if len(value) > 100 or any(ch in value for ch in "<>{}\n"):
        raise InvalidPreference(name, "'name' must be at most 100 plain characters")
    return value
