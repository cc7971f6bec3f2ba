"""Celery worker helpers that any layer's tasks may use (the Celery app itself is on top,
in switchboard.celery_app)."""

from __future__ import annotations

from typing import Any


def consumes(worker: Any, queue: str) -> bool:
    """Whether the worker that sent `worker_ready` consumes this queue (start-up hooks)."""
    return queue in {q.name for q in getattr(worker.task_consumer, "queues", [])}
