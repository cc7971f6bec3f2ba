"""Which contact a visitor is: a verified identity (and joining the anonymous visitor to it).

An anonymous visitor's memory is that visitor's own; an identified contact (external_id) is
reachable only through a verified signature, because its visitor id (`id:…`) is one the
widget's visitor-id pattern can never produce.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING

from django.db import IntegrityError, models, transaction

from memory.conversations.models import Contact, Conversation
from memory.conversations.services import open_conversation

from .identity import IdentityClaim, verified_user_id
from .models import BotIdentity, MemoryItem, Preference
from .preferences import outranks

if TYPE_CHECKING:  # a bot is named by its row ("bots.Bot"): bots sit above this layer
    from bots.models import Bot

log = logging.getLogger(__name__)


class IdentityRejected(Exception):
    """The identity claim is not signed with this bot's secret (or the bot has none)."""


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
        if existing is not None and outranks(existing, preference):
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


def contact_id_for(organization_id: int, visitor_id: str, *, create: bool) -> int | None:
    """The visitor's contact id; made only with `create` (the customer stores something, a
    preference), else None for a visitor who has none."""
    if create:
        contact, _ = Contact.objects.get_or_create(
            organization_id=organization_id, visitor_id=visitor_id
        )
        return int(contact.pk)
    return (
        Contact.objects.filter(organization_id=organization_id, visitor_id=visitor_id)
        .values_list("pk", flat=True)
        .first()
    )
