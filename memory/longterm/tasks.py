"""Long-term memory tasks: fetch by id, call the service. Rules and embeddings run on
`embeddings`; the model's part (bots.memory_model) runs on `llm-side` (bots.tasks)."""

from __future__ import annotations

from celery import shared_task

from . import facts


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=60, time_limit=90)  # type: ignore[untyped-decorator]
def remember_from_message(message_id: int) -> None:
    facts.remember_from_message(message_id)
