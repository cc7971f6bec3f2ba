"""Celery tasks of the api app (queue `webhooks`): webhook delivery and its safety net."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from . import webhooks


# The soft limit backs up the delivery's own deadline (a receiver that drips its headers).
@shared_task(  # type: ignore[untyped-decorator]
    acks_late=True,
    soft_time_limit=settings.WEBHOOK_DEADLINE_S + 5,
    time_limit=settings.WEBHOOK_DEADLINE_S + 20,
)
def deliver_webhook(delivery_id: str) -> str:
    return webhooks.deliver(delivery_id)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)  # type: ignore[untyped-decorator]
def requeue_due_deliveries() -> int:
    return webhooks.requeue_due_deliveries()
