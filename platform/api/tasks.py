"""Celery tasks of the api app (queue `webhooks`): webhook delivery and its safety net.

The work is `delivery.py`; these tasks queue what it says is to be tried again.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from . import delivery


# The soft limit backs up the delivery's own deadline (a receiver that drips its headers).
@shared_task(  # type: ignore[untyped-decorator]
    acks_late=True,
    soft_time_limit=settings.WEBHOOK_DEADLINE_S + 5,
    time_limit=settings.WEBHOOK_DEADLINE_S + 20,
)
def deliver_webhook(delivery_id: str) -> str:
    """One attempt; a failed one (or one held back by the endpoint's open circuit) queues the
    next. Returns the delivery's status afterwards."""
    attempt = delivery.deliver(delivery_id)
    if attempt.retry_in is not None:
        deliver_webhook.apply_async((delivery_id,), countdown=attempt.retry_in)
    return attempt.status


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)  # type: ignore[untyped-decorator]
def requeue_due_deliveries() -> int:
    """Beat safety net: re-enqueue retries whose task was lost and leases that expired."""
    due = delivery.due_deliveries()
    for delivery_id in due:
        deliver_webhook.delay(delivery_id)
    return len(due)
