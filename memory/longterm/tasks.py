"""Long-term memory tasks: fetch by id, call the service.

Rules and embeddings run on `embeddings`; anything that calls the model (fact extraction,
summaries) on `llm-side`, a queue of its own, so that no customer's reply waits behind it.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from . import services


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=60, time_limit=90)  # type: ignore[untyped-decorator]
def remember_from_message(message_id: int) -> None:
    services.remember_from_message(message_id)


@shared_task(  # type: ignore[untyped-decorator]
    acks_late=True,
    ignore_result=True,
    soft_time_limit=settings.LLM_SOFT_TIME_LIMIT,
    time_limit=settings.LLM_HARD_TIME_LIMIT,
)
def extract_facts_with_model(message_id: int) -> None:
    services.extract_facts_with_model(message_id)


@shared_task(  # type: ignore[untyped-decorator]
    acks_late=True,
    ignore_result=True,
    soft_time_limit=settings.LLM_SOFT_TIME_LIMIT,
    time_limit=settings.LLM_HARD_TIME_LIMIT,
)
def summarise_conversation(conversation_id: int) -> None:
    services.summarise_conversation(conversation_id)


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=30, time_limit=60)  # type: ignore[untyped-decorator]
def summarise_ended_conversations() -> None:
    """Periodic (beat): queue a summary for each resolved or idle, unsummarised conversation."""
    for conversation_id in services.ended_conversations_to_summarise():
        summarise_conversation.delay(conversation_id)


def after_customer_message(message_id: int, text: str | None = None) -> None:
    """Queue the memory work for a new customer message (call inside the storing transaction)."""
    remember_from_message.delay_on_commit(message_id)
    # The cheap first-person check runs here, so that most messages never reach the model
    # at all (the task checks again: it may be enqueued without the text).
    worth_it = text is None or services.worth_a_model_look(text)
    if settings.LONGTERM_MODEL_EXTRACTION and worth_it:
        extract_facts_with_model.delay_on_commit(message_id)
