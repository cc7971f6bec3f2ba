"""Celery tasks of the analytics app (queue `celery`)."""

from __future__ import annotations

from celery import shared_task

from . import rollups


@shared_task(acks_late=True, soft_time_limit=240, time_limit=300)  # type: ignore[untyped-decorator]
def refresh_rollups() -> int:
    """Recompute stale hours: queued by the outbox's marks (analytics.subscribers), and by beat
    every SWITCHBOARD_ROLLUP_INTERVAL_S as a safety net."""
    return rollups.refresh_dirty()
