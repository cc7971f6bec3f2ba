"""Celery tasks of the analytics app (queue `celery`)."""

from __future__ import annotations

from celery import shared_task

from . import rollups


@shared_task(acks_late=True, soft_time_limit=240, time_limit=300)  # type: ignore[untyped-decorator]
def refresh_rollups(sweep_recent: bool = False) -> int:
    """Recompute stale hours; beat runs it with `sweep_recent` every minute."""
    if sweep_recent:
        rollups.mark_recent_activity()
    return rollups.refresh_dirty()
