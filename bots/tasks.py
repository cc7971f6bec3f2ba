"""The model worker's tasks: replies (queue `llm`), and the model's memory work (queue
`llm-side`, so that no customer's reply waits behind it). Fetch by id, call the service."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from celery.signals import worker_ready
from django import db
from django.conf import settings

from bots import memory_model, queue_depth, services, sweeper
from bots.engines import EngineError, get_engine, registry
from core.workers import consumes
from memory.conversations.models import Message
from memory.longterm.facts import worth_a_model_look
from memory.longterm.summaries import ended_conversations_to_summarise
from memory.longterm.tasks import remember_from_message

log = logging.getLogger(__name__)
LLM_QUEUE = "llm"


@shared_task(  # type: ignore[untyped-decorator]
    bind=True,
    acks_late=True,
    soft_time_limit=settings.LLM_SOFT_TIME_LIMIT,
    time_limit=settings.LLM_HARD_TIME_LIMIT,
    ignore_result=True,
)
def generate_reply(self: Task, user_message_id: int, after_conversation: int | None = None) -> None:
    """The reply pipeline (bots.services.generate_reply); desk's handoff rules follow the
    reply through its message.created event (the outbox)."""
    retry_in = services.generate_reply(user_message_id, after_conversation=after_conversation)
    if retry_in is not None:
        generate_reply.apply_async((user_message_id,), countdown=retry_in)


@shared_task(queue=LLM_QUEUE, ignore_result=True)  # type: ignore[untyped-decorator]
def sweep_orphaned_replies() -> None:
    """Celery beat runs this (settings.CELERY_BEAT_SCHEDULE): one schedule for all workers,
    which no lost task or Redis restart can break, unlike a task that re-enqueues itself."""
    sweeper.requeue_orphaned_replies(generate_reply.delay)
    sweeper.answer_stale_orphans()


@worker_ready.connect  # type: ignore[untyped-decorator]
def warm_up_on_start(sender: Any, **_kwargs: Any) -> None:
    """A thread-pool llm worker reports its queue depth (bots.queue_depth); with
    SWITCHBOARD_LLM_WARMUP it also loads the registry's transformers models and warms their
    schedulers (cache, compile) before the first customer, with the progress logged. Only in
    a thread-pool worker (SWITCHBOARD_LLM_CONCURRENCY > 1), whose one process serves every
    reply: a prefork parent must not load what its forked children would inherit."""
    if settings.LLM_CONCURRENCY <= 1 or not consumes(sender, LLM_QUEUE):
        return
    queue_depth.start_reporting()
    if not settings.LLM_WARMUP:
        return
    for name, (kind, model) in registry.entries().items():
        if kind != "transformers":
            continue
        log.info("warming up model %r (%s)", name, model)
        try:
            get_engine(kind, model)
        except EngineError as exc:
            log.error("warming up model %r failed: %s", name, exc)


@worker_ready.connect  # type: ignore[untyped-decorator]
def sweep_on_start(sender: Any, **_kwargs: Any) -> None:
    """An llm worker that starts (or restarts) picks up what died with the last one."""
    if not consumes(sender, LLM_QUEUE):
        return
    try:
        sweeper.requeue_orphaned_replies(generate_reply.delay)
    finally:
        # Children forked later (a replaced child) must not inherit this connection.
        db.connections.close_all()


@shared_task(  # type: ignore[untyped-decorator]
    acks_late=True,
    ignore_result=True,
    soft_time_limit=settings.LLM_SOFT_TIME_LIMIT,
    time_limit=settings.LLM_HARD_TIME_LIMIT,
)
def extract_facts_with_model(message_id: int) -> None:
    memory_model.extract_facts_with_model(message_id)


@shared_task(  # type: ignore[untyped-decorator]
    acks_late=True,
    ignore_result=True,
    soft_time_limit=settings.LLM_SOFT_TIME_LIMIT,
    time_limit=settings.LLM_HARD_TIME_LIMIT,
)
def summarise_conversation(conversation_id: int) -> None:
    memory_model.summarise_conversation(conversation_id)


@shared_task(acks_late=True, ignore_result=True, soft_time_limit=30, time_limit=60)  # type: ignore[untyped-decorator]
def summarise_ended_conversations() -> None:
    """Periodic (beat): queue a summary for each resolved or idle, unsummarised conversation."""
    for conversation_id in ended_conversations_to_summarise():
        summarise_conversation.delay(conversation_id)


def remember_after_customer_message(message_id: int, text: str | None = None) -> None:
    """Queue the memory work for a new customer message (call inside the storing transaction)."""
    remember_from_message.delay_on_commit(message_id)
    # The cheap first-person check runs here, so that most messages never reach the model
    # at all (the task checks again: it may be enqueued without the text).
    worth_it = text is None or worth_a_model_look(text)
    if settings.LONGTERM_MODEL_EXTRACTION and worth_it:
        extract_facts_with_model.delay_on_commit(message_id)


def queue_reply_early(message: Message) -> bool:
    """Send the reply's task now, before the customer's transaction commits; False if Redis
    refused it (then it goes on commit, as any task would, or the sweeper finds it).

    The task travels through Redis and the worker while the handoff rules run and the
    transaction commits, instead of after. That is safe because its claim first waits for the
    conversation's row lock, which this transaction holds from the seq allocation until it
    ends, and then sees how it ended: the message stored (answer it), the conversation handed
    to a person (nothing to do), or a rollback (no message: nothing to do).
    """
    try:
        generate_reply.apply_async(
            (message.pk,), {"after_conversation": message.conversation_id}, retry=False
        )
    except Exception as exc:  # noqa: BLE001 - the message is still stored; the reply is queued later
        log.warning("queueing the reply to message %s early failed: %s", message.pk, exc)
        return False
    return True
