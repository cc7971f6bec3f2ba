"""Celery tasks of the core app (queue `celery`)."""

from __future__ import annotations

from celery import shared_task

from . import outbox


@shared_task(acks_late=True, soft_time_limit=60, time_limit=90, ignore_result=True)  # type: ignore[untyped-decorator]
def sweep_outbox() -> int:
    """Beat runs this every OUTBOX_SWEEP_INTERVAL_S (settings.CELERY_BEAT_SCHEDULE)."""
    return outbox.sweep()
