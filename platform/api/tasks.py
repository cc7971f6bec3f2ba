"""Celery tasks of the api app (queue `celery`): webhook delivery and its safety net."""

from __future__ import annotations

from celery import shared_task

from . import webhooks


@shared_task(acks_late=True, soft_time_limit=30, time_limit=45)  # type: ignore[untyped-decorator]
def deliver_webhook(delivery_id: str) -> str:
    return webhooks.deliver(delivery_id)


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90)  # type: ignore[untyped-decorator]
def requeue_due_deliveries() -> int:
    return webhooks.requeue_due_deliveries()
