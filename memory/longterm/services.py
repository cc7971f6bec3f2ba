"""Writes to long-term memory: verified identity (and joining the anonymous visitor to it),
remembered facts and preferences, conversation summaries, and forgetting on request.

Everything is keyed by one Contact. An anonymous visitor's memory is that visitor's own; an
identified contact (external_id) is reachable only through a verified signature, because its
visitor id (`id:…`) is one the widget's visitor-id pattern can never produce.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import Max
from django.utils import timezone

from bots.models import Bot
from memory.models import Contact, Conversation, Message
from memory.services import open_conversation

from .identity import IdentityClaim, verified_user_id
from .models import BotIdentity, ConversationSummary, MemoryItem, Origin, Preference
from .rules import channel_name, extract_facts, fact_text, language_name

log = logging.getLogger(__name__)

TONES = {"brief", "detailed"}
PREFERENCE_NAMES = {choice.value for choice in Preference.Name}
# Facts the model may fill (rules cover name, language, channel, plan, card).
MODEL_KEYS = ("city", "employer")
# Only a message that says something about the speaker is worth a model call.
_FIRST_PERSON = re.compile(r"\b(I|I'm|I've|I'd|me|my|mine|we|our)\b", re.IGNORECASE)


class IdentityRejected(Exception):
    """The identity claim is not signed with this bot's secret (or the bot has none)."""


class InvalidPreference(Exception):
    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


# Identity


def identified_visitor_id(organization_id: int, external_id: str) -> str:
    """The visitor id of an identified contact: ':' keeps it out of the widget's id space."""
    digest = hashlib.sha256(f"{organization_id}:{external_id}".encode()).hexdigest()
    return f"id:{digest[:48]}"


def open_verified_conversation(bot: Bot, visitor_id: str, claim: IdentityClaim) -> Conversation:
    """The verified user's conversation; the visitor's anonymous history joins them first."""
    with transaction.atomic():
        contact = verify_visitor(bot, visitor_id, claim)
        return open_conversation(bot, contact.visitor_id)


def verify_visitor(bot: Bot, visitor_id: str, claim: IdentityClaim) -> Contact:
    """The verified user's contact, the anonymous visitor merged in; IdentityRejected if the
    claim is not signed with one of the bot's active secrets. Opens no conversation."""
    identity = BotIdentity.objects.filter(bot=bot).first()
    external_id = verified_user_id(identity.active_secrets() if identity else [], claim)
    if external_id is None:
        raise IdentityRejected()
    with transaction.atomic():
        return identify_visitor(bot.organization_id, visitor_id, external_id)


def identify_visitor(organization_id: int, visitor_id: str, external_id: str) -> Contact:
    """The identified contact for `external_id`, with the anonymous visitor merged into it."""
    contact, _ = Contact.objects.get_or_create(
        organization_id=organization_id,
        visitor_id=identified_visitor_id(organization_id, external_id),
        defaults={"external_id": external_id},
    )
    anonymous = (
        Contact.objects.select_for_update()
        .filter(organization_id=organization_id, visitor_id=visitor_id, external_id="")
        .first()
    )
    if anonymous is not None:
        merge_contacts(anonymous, into=contact)
    return contact


def merge_contacts(source: Contact, *, into: Contact) -> None:
    """Move everything of `source` to `into`, then delete `source` (call inside a transaction).

    Keyed rows that clash keep the stronger one: an explicit preference beats a learned one,
    otherwise the newer wins.
    """
    for item in MemoryItem.objects.filter(contact=source):
        other = MemoryItem.objects.filter(contact=into, key=item.key).first()
        if other is not None and other.updated_at >= item.updated_at:
            item.delete()
            continue
        if other is not None:
            other.delete()
        item.contact = into
        item.save(update_fields=["contact"])
    for preference in Preference.objects.filter(contact=source):
        existing = Preference.objects.filter(contact=into, name=preference.name).first()
        if existing is not None and _stronger(existing, preference):
            preference.delete()
            continue
        if existing is not None:
            existing.delete()
        preference.contact = into
        preference.save(update_fields=["contact"])
    # Conversations, summaries, feedback, and whatever other apps hang off the contact.
    for relation in Contact._meta.related_objects:
        if not (relation.one_to_many or relation.one_to_one):
            continue
        model = relation.related_model
        assert isinstance(model, type) and issubclass(model, models.Model)
        field = relation.field.name
        try:
            with transaction.atomic():
                model._default_manager.filter(**{field: source}).update(**{field: into})
        except IntegrityError:
            log.warning("merge: %s rows of contact %s could not move", model.__name__, source.pk)
    if not into.name and source.name:
        into.name = source.name
        into.save(update_fields=["name"])
    source.delete()


def _stronger(kept: Preference, incoming: Preference) -> bool:
    explicit = Origin.EXPLICIT
    if (kept.origin == explicit) != (incoming.origin == explicit):
        return kept.origin == explicit
    return kept.updated_at >= incoming.updated_at


# Remembering


def _embed(texts: list[str]) -> list[list[float]]:
    from memory.embeddings import embed

    return [list(map(float, row)) for row in embed(texts)]


def remember_fact(
    contact: Contact, key: str, value: str, *, origin: str, source: Message | None = None
) -> MemoryItem:
    """Store a fact with its embedding; the same key again replaces the old value."""
    text = fact_text(key, value)
    [embedding] = _embed([text])
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


def extract_facts_with_model(message_id: int) -> dict[str, str]:
    """Ask the model (grammar-constrained JSON) for facts the rules do not cover; store them."""
    from bots.engines import ChatMessage, get_engine
    from bots.prompts import template

    message = (
        Message.objects.select_related("conversation__contact")
        .filter(pk=message_id, role=Message.Role.USER)
        .first()
    )
    if message is None or not worth_a_model_look(message.text):
        return {}
    engine = get_engine("llamacpp", settings.LONGTERM_EXTRACTION_MODEL)
    complete_json = getattr(engine, "complete_json", None)
    if complete_json is None:
        return {}
    prompt: list[ChatMessage] = [
        {"role": "system", "content": template("memory_extraction").strip()}
    ]
    for said, facts in EXTRACTION_EXAMPLES:
        prompt.append({"role": "user", "content": said})
        prompt.append({"role": "assistant", "content": json.dumps(facts)})
    raw = complete_json(
        [*prompt, {"role": "user", "content": message.text[:1000]}],
        schema=EXTRACTION_SCHEMA,
        max_tokens=80,
    )
    facts = grounded_facts(raw, message.text)
    for key, value in facts.items():
        remember_fact(message.conversation.contact, key, value, origin=Origin.MODEL, source=message)
    return facts


# Conversation summaries


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


def _transcript(messages: Iterable[Message]) -> str:
    speaker = {Message.Role.USER: "Customer", Message.Role.BOT: "Bot", Message.Role.AGENT: "Agent"}
    return "\n".join(
        f"{speaker[m.role]}: {m.text[:600]}"  # type: ignore[index]
        for m in messages
        if m.role in speaker and m.text and m.status != Message.Status.FAILED
    )


def summarise_conversation(conversation_id: int) -> ConversationSummary | None:
    """Write (or refresh) the summary of an ended conversation, with its embedding."""
    from bots.engines import ChatMessage, EngineError, Usage
    from bots.engines.registry import engine_for_bot
    from bots.prompts import template

    conversation = Conversation.objects.select_related("bot").filter(pk=conversation_id).first()
    if conversation is None:
        return None
    existing = ConversationSummary.objects.filter(conversation=conversation).first()
    if existing is not None and existing.through_seq >= conversation.last_seq:
        return existing
    messages = list(conversation.messages.order_by("seq"))
    customer_said = [m.text for m in messages if m.role == Message.Role.USER and m.text]
    if not customer_said:
        return None
    prompt: list[ChatMessage] = [
        {"role": "system", "content": template("conversation_summary").strip()},
        {"role": "user", "content": _transcript(messages)[-4000:]},
    ]
    try:
        engine = engine_for_bot(conversation.bot)
        text = "".join(engine.stream(prompt, max_tokens=96, temperature=0.0, usage=Usage()))
    except EngineError as exc:
        # Stored anyway (from the customer's words), so the sweep does not retry it forever.
        log.warning("summary of conversation %s: %s", conversation_id, exc)
        text = ""
    text = text.strip()
    if not text:
        text = "The customer asked: " + customer_said[0][:200]
    # Embedded with the customer's own words too, so recall does not hinge on the model's
    # wording of the summary.
    [embedding] = _embed([text + "\n" + " ".join(customer_said)[:1500]])
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


# Forgetting


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
