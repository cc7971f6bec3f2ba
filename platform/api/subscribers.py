"""Webhooks from the outbox: each webhook event kind (docs/api.md) becomes one delivery per
subscribed endpoint, in the event's dispatch transaction (core.outbox), so a delivery exists
exactly once per event; a contact's erasure redacts the payloads already queued or sent.
"""

from __future__ import annotations

from django.db.models import Q

from core import outbox
from memory.conversations import events

from .models import WebhookDelivery, WebhookEvent
from .webhooks import emit


def queue_webhooks(event: outbox.Event) -> None:
    emit(event.organization_id, event.kind, event.data, occurred_at=event.created_at)


def redact_deliveries(event: outbox.Event) -> None:
    """The copies of the contact's words that no foreign key cascades to: the delivery row
    stays, for the organization's delivery log, with its `data` replaced by {"erased": true}."""
    copies = WebhookDelivery.objects.filter(
        Q(payload__data__contact_id=event.data["contact_id"])
        | Q(payload__data__conversation_id__in=event.data["conversation_ids"]),
        endpoint__organization_id=event.organization_id,
    ).only("pk", "payload")
    changed = []
    for delivery in copies:
        delivery.payload = {**delivery.payload, "data": events.ERASED}
        changed.append(delivery)
    WebhookDelivery.objects.bulk_update(changed, ["payload"], batch_size=500)


def connect() -> None:
    for kind in WebhookEvent:
        outbox.subscribe(kind.value, queue_webhooks)
    outbox.subscribe(events.CONTACT_ERASED, redact_deliveries)
