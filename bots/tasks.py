"""The model worker's tasks (queue `llm`): fetch by id, call the service."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_ready
from django import db
from django.conf import settings

from bots import services, sweeper
from bots.engines import EngineError
from desk.services import hand_off_after_reply
from switchboard.celery_app import consumes

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
    try:
        claim = services.claim_reply(user_message_id, after_conversation=after_conversation)
    except services.Busy as busy:
        # Another attempt holds a live lease (a duplicate delivery): look again after it.
        generate_reply.apply_async((user_message_id,), countdown=busy.retry_in + 0.5)
        return
    if claim is None:
        return
    try:
        services.generate_reply_for(claim)
        hand_off_after_reply(user_message_id)
    except services.LostClaim:
        log.info("reply to message %s: claim lost, stopping", user_message_id)
    except SoftTimeLimitExceeded:
        services.fail_reply(user_message_id, "timed out")
    except EngineError as exc:
        log.warning("reply to message %s failed: %s", user_message_id, exc)
        if exc.permanent or claim.reply.attempts >= settings.LLM_MAX_ATTEMPTS:
            services.fail_reply(user_message_id, str(exc))
        else:
            services.release_claim(claim)
            generate_reply.apply_async((user_message_id,), countdown=2**claim.reply.attempts)
    except Exception as exc:
        log.exception("reply to message %s crashed", user_message_id)
        if claim.reply.attempts >= settings.LLM_MAX_ATTEMPTS:
            services.fail_reply(user_message_id, f"crashed: {exc}")
        else:
            services.release_claim(claim)
            generate_reply.apply_async((user_message_id,), countdown=2**claim.reply.attempts)


@shared_task(queue=LLM_QUEUE, ignore_result=True)  # type: ignore[untyped-decorator]
def sweep_orphaned_replies() -> None:
    """Celery beat runs this (settings.CELERY_BEAT_SCHEDULE): one schedule for all workers,
    which no lost task or Redis restart can break, unlike a task that re-enqueues itself."""
    sweeper.requeue_orphaned_replies()
    sweeper.answer_stale_orphans()


@worker_ready.connect  # type: ignore[untyped-decorator]
def sweep_on_start(sender: Any, **_kwargs: Any) -> None:
    """An llm worker that starts (or restarts) picks up what died with the last one."""
    if not consumes(sender, LLM_QUEUE):
        return
    try:
        sweeper.requeue_orphaned_replies()
    finally:
        # Children forked later (a replaced child) must not inherit this connection.
        db.connections.close_all()
