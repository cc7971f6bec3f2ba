"""Desk tasks on the `llm-side` queue (never ahead of a customer's reply): fetch by id, call
the service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from desk import generation


@shared_task(  # type: ignore[untyped-decorator]
    acks_late=True,
    soft_time_limit=settings.LLM_SOFT_TIME_LIMIT,
    time_limit=settings.LLM_HARD_TIME_LIMIT,
    ignore_result=True,
)
def draft_reply(conversation_id: int, user_id: int) -> None:
    generation.draft_reply(conversation_id, user_id)
