"""The model worker's tasks (queue `llm`): fetch by id, call the service."""

from __future__ import annotations

import logging

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from bots import services
from bots.engines import EngineError

log = logging.getLogger(__name__)


@shared_task(  # type: ignore[untyped-decorator]
    bind=True,
    acks_late=True,
    soft_time_limit=settings.LLM_SOFT_TIME_LIMIT,
    time_limit=settings.LLM_HARD_TIME_LIMIT,
    ignore_result=True,
)
def generate_reply(self: Task, user_message_id: int) -> None:
    try:
        claim = services.claim_reply(user_message_id)
    except services.Busy as busy:
        # Another attempt holds a live lease (a duplicate delivery): look again after it.
        generate_reply.apply_async((user_message_id,), countdown=busy.retry_in + 0.5)
        return
    if claim is None:
        return
    try:
        services.generate_reply_for(claim)
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
