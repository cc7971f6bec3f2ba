"""Webhooks: check an endpoint's URL, and queue an event for each subscribed endpoint.

`emit` writes one delivery row per endpoint in the caller's transaction and queues its first
attempt (`tasks.deliver_webhook`) on commit; signing, sending and retrying are `delivery.py`.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import partial
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from memory.knowledge.fetch import FetchError, validate_public_url

from .models import WebhookDelivery, WebhookEndpoint
from .tasks import deliver_webhook


class UnsafeWebhookUrl(ValueError):
    pass


def check_webhook_url(url: str) -> None:
    """Refuse URLs the SSRF guard refuses (private, loopback, metadata, odd schemes)."""
    try:
        validate_public_url(url)
    except FetchError as exc:
        raise UnsafeWebhookUrl(str(exc)) from exc


def emit(
    organization_id: int, event: str, data: dict[str, Any], occurred_at: datetime | None = None
) -> list[WebhookDelivery]:
    """Queue `event` for every active endpoint of the organization subscribed to it.

    Rows are written in the caller's transaction (the outbox's dispatch of the event, so a
    delivery exists once per event); the sends are enqueued once it commits.
    """
    # Subscriptions are matched in SQL (jsonb containment): every message asks, and most
    # organizations have no endpoint for it.
    endpoints = list(
        WebhookEndpoint.objects.filter(
            organization_id=organization_id, active=True, events__contains=[event]
        ).order_by("pk")
    )
    if not endpoints:
        return []
    occurred_at = occurred_at or timezone.now()
    deliveries = []
    for endpoint in endpoints:
        delivery = WebhookDelivery(endpoint=endpoint, event=event, payload={})
        delivery.payload = {
            "id": str(delivery.id),
            "event": event,
            "created_at": occurred_at.isoformat(),
            "organization_id": organization_id,
            "data": json.loads(json.dumps(data, cls=DjangoJSONEncoder)),
        }
        deliveries.append(delivery)
    WebhookDelivery.objects.bulk_create(deliveries)
    for delivery in deliveries:
        transaction.on_commit(partial(deliver_webhook.delay, str(delivery.pk)))
    return deliveries
