"""Reply generation: claim a reply once, stream it in ~40 ms frames, store it, or fail visibly.

The reply row is the claim: one per user message (a unique `reply_to`), taken or re-taken
with a lease token, so a task that runs twice (acks_late redelivery, a duplicate enqueue)
produces one reply, and a worker that lost its lease can no longer write or publish.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import NamedTuple

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from bots import answers
from bots.context import PromptContext, gather_context
from bots.engines import EngineError, Usage
from bots.engines.base import ChatMessage, Engine
from bots.engines.registry import engine_for_bot
from bots.models import Bot
from bots.prompts import build_messages
from core.holders import holder_is_dead, new_token
from core.realtime import publish_message_stored, publish_now
from core.rows import Columns, cache_related
from memory.conversations import events
from memory.conversations.frames import message_payload
from memory.conversations.models import Conversation, Message
from memory.conversations.selectors import Turn, recent_turns
from memory.conversations.services import append_message

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=15)
HISTORY_MESSAGES = 100  # at most this many past messages are read for a reply's prompt
FALLBACK_TEXT = (
    "Sorry, I couldn't produce an answer just now. Please try again in a moment, "
    "or ask to talk to a person."
)


@dataclass
class Claim:
    reply: Message
    token: str
    question: Message  # the customer's message, with its conversation and bot loaded


class Busy(Exception):
    """Another live worker holds the reply's lease; try again after `retry_in` seconds."""

    def __init__(self, retry_in: float) -> None:
        self.retry_in = retry_in


_QUESTION = Columns(Message, "q")
_CONVERSATION = Columns(Conversation, "c")
_BOT = Columns(Bot, "b")


@functools.cache
def _question_sql() -> str:
    return f"""
SELECT {_QUESTION.sql}, {_CONVERSATION.sql}, {_BOT.sql}, r.id
FROM {Message._meta.db_table} q
JOIN {Conversation._meta.db_table} c ON c.id = q.conversation_id
JOIN {Bot._meta.db_table} b ON b.id = c.bot_id
LEFT JOIN {Message._meta.db_table} r ON r.reply_to_id = q.id
WHERE q.id = %s AND q.role = %s
FOR UPDATE OF q, c
"""  # noqa: S608 - table names from the models, values as parameters


def _lock_question(user_message_id: int) -> tuple[Message, int | None] | None:
    """The customer's message with its conversation and bot, and its reply's id if any.

    Locks the message and its conversation (not the bot: claims of one bot's many
    conversations must not queue behind each other). Every claim runs this first, so it is
    one hand-written statement (core.rows).
    """
    with connection.cursor() as cursor:
        cursor.execute(_question_sql(), [user_message_id, Message.Role.USER])
        row = cursor.fetchone()
    if row is None:
        return None
    user = _QUESTION.load(row)
    conversation = _CONVERSATION.load(row, len(_QUESTION))
    bot = _BOT.load(row, len(_QUESTION) + len(_CONVERSATION))
    cache_related(conversation, "bot", bot)
    cache_related(user, "conversation", conversation)
    return user, row[-1]


def _wait_for_writer(conversation_id: int) -> None:
    """Wait until the transaction that queued this task from inside itself has ended."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {Conversation._meta.db_table} WHERE id = %s FOR UPDATE",  # noqa: S608
            [conversation_id],
        )


def claim_reply(user_message_id: int, *, after_conversation: int | None = None) -> Claim | None:
    """Take the right to generate this message's reply; None when there is nothing to do.

    `after_conversation`: the task was sent from inside the transaction that stored the
    message (`_queue_reply_early`); its conversation's row lock is waited for first.
    """
    now = timezone.now()
    # The token names its holder (core.holders), so an attempt redelivered after the
    # holder was killed takes over at once instead of waiting out the lease.
    token = new_token()
    with transaction.atomic():
        if after_conversation is not None:
            _wait_for_writer(after_conversation)
            now = timezone.now()
        found = _lock_question(user_message_id)
        if found is None:
            return None
        user, existing_id = found
        if user.conversation.status != Conversation.Status.BOT:
            return None
        if existing_id is None:
            reply = _append_reply(
                user,
                status=Message.Status.STREAMING,
                attempts=1,
                lease_until=now + LEASE,
                lease_token=token,
            )
            # Not waited for: it leaves before the first delta all the same (one ordered
            # publisher), and the generation gets going meanwhile.
            publish_message_stored(
                reply.conversation_id, reply.pk, wait=False, message=message_payload(reply)
            )
            return Claim(reply, token, user)
        # Every claimer holds the question's lock first; the reply's own lock keeps a lease
        # holder's last write from crossing the takeover below.
        reply = Message.objects.select_for_update().get(pk=existing_id)
        if reply.status in (Message.Status.FINAL, Message.Status.FAILED):
            return None
        if reply.lease_until and reply.lease_until > now and not holder_is_dead(reply.lease_token):
            raise Busy((reply.lease_until - now).total_seconds())
        if reply.attempts >= settings.LLM_MAX_ATTEMPTS:
            _fail(reply, f"gave up after {reply.attempts} attempts")
            return None
        # A previous attempt died (worker killed, lease expired): start over, same row, so
        # the partial text is replaced rather than duplicated.
        reply.attempts += 1
        reply.text = ""
        reply.lease_until = now + LEASE
        reply.lease_token = token
        reply.save(update_fields=["attempts", "text", "lease_until", "lease_token", "updated_at"])
        publish_message_stored(reply.conversation_id, reply.pk)
        return Claim(reply, token, user)


def _append_reply(question: Message, **fields: object) -> Message:
    """The bot's reply row to `question`, inserted with the next seq (under the claim's lock)."""
    reply = Message(
        conversation_id=question.conversation_id,
        role=Message.Role.BOT,
        reply_to=question,
        **fields,
    )
    append_message(reply)
    if reply.status == Message.Status.FAILED:
        events.message_created(reply)
    return reply


def _fail(reply: Message, error: str) -> None:
    reply.status = Message.Status.FAILED
    reply.text = FALLBACK_TEXT
    reply.error = error[:500]
    reply.lease_until = None
    reply.lease_token = ""
    reply.save(
        update_fields=["status", "text", "error", "lease_until", "lease_token", "updated_at"]
    )
    events.message_created(reply)
    publish_message_stored(reply.conversation_id, reply.pk)


def fail_reply(user_message_id: int, error: str) -> None:
    """Give up on a reply: the customer sees the fallback line (and can ask for a human)."""
    with transaction.atomic():
        reply = Message.objects.select_for_update().filter(reply_to_id=user_message_id).first()
        if reply is not None and reply.status == Message.Status.STREAMING:
            _fail(reply, error)


def answer_with_fallback(user_message_id: int, error: str) -> bool:
    """Too late to generate (the sweeper's horizon passed): the customer gets the fallback
    line and the offer of a person, never silence. False when the message has a reply that is
    final, failed or still live, or the bot no longer owns the conversation."""
    with transaction.atomic():
        found = _lock_question(user_message_id)
        if found is None:
            return False
        user, existing_id = found
        if user.conversation.status != Conversation.Status.BOT:
            return False
        if existing_id is None:
            reply = _append_reply(
                user, status=Message.Status.FAILED, text=FALLBACK_TEXT, error=error[:500]
            )
            publish_message_stored(reply.conversation_id, reply.pk)
            return True
        reply = Message.objects.select_for_update().get(pk=existing_id)
        if reply.status != Message.Status.STREAMING:
            return False
        live = reply.lease_until and reply.lease_until > timezone.now()
        if live and not holder_is_dead(reply.lease_token):
            return False
        _fail(reply, error)
        return True


def release_claim(claim: Claim) -> None:
    """Let the next attempt start at once instead of waiting for the lease to run out."""
    Message.objects.filter(pk=claim.reply.pk, lease_token=claim.token).update(
        lease_until=timezone.now()
    )


class LostClaim(Exception):
    """The lease moved to another attempt, or the conversation left the bot: stop quietly."""


def _still_ours(claim: Claim, **fields: object) -> None:
    """Conditional write: only the lease holder, only while the bot owns the conversation."""
    updated = Message.objects.filter(
        pk=claim.reply.pk,
        lease_token=claim.token,
        status=Message.Status.STREAMING,
        conversation__status=Conversation.Status.BOT,
    ).update(updated_at=timezone.now(), **fields)
    if not updated:
        raise LostClaim()


_FRAME_SQL = f"""
UPDATE {Message._meta.db_table} AS m SET text = %s, lease_until = %s, updated_at = %s
FROM {Conversation._meta.db_table} AS c
WHERE m.id = %s AND m.lease_token = %s AND m.status = %s
  AND c.id = m.conversation_id AND c.status = %s
"""  # noqa: S608 - table names from the models, values as parameters


def _write_frame(claim: Claim, text: str) -> None:
    """`_still_ours` for a streaming frame, the hot write: the text so far, the lease renewed.

    Plain SQL, because it runs once per frame of every reply (the ORM's query building costs
    more than the round trip); same conditions as `_still_ours`.
    """
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _FRAME_SQL,
            [
                text,
                now + LEASE,
                now,
                claim.reply.pk,
                claim.token,
                Message.Status.STREAMING,
                Conversation.Status.BOT,
            ],
        )
        if cursor.rowcount != 1:
            raise LostClaim()


class ReplyPrompt(NamedTuple):
    messages: list[ChatMessage]
    context: PromptContext
    history: list[Turn]


def prompt_for_reply(conversation: Conversation, question: Message, engine: Engine) -> ReplyPrompt:
    """The messages the engine is given to answer `question`, and what they drew on."""
    bot: Bot = conversation.bot
    # The newest messages only: the window is cut to the model's context anyway.
    history = recent_turns(conversation.pk, question.seq, HISTORY_MESSAGES)
    context = gather_context(conversation, question)
    prompt = build_messages(
        persona=bot.persona,
        history=history,
        engine=engine,
        max_tokens=bot.max_tokens,
        context=context,
    )
    return ReplyPrompt(prompt, context, history)


def generate_reply_for(claim: Claim) -> Message:
    """Stream the reply: each frame is written to the row first, then published."""
    reply, user = claim.reply, claim.question
    conversation = user.conversation  # as claimed; _still_ours re-checks who owns it now
    bot: Bot = conversation.bot
    started = time.perf_counter()
    queue_wait_ms = max(0, int((timezone.now() - user.created_at).total_seconds() * 1000))

    engine = engine_for_bot(bot)
    prompt, context, history = prompt_for_reply(conversation, user, engine)
    usage = Usage()
    frame_s = settings.LLM_STREAM_FRAME_MS / 1000
    text = ""
    pending = ""
    last_flush = 0.0
    ttft_ms: int | None = None

    def flush() -> None:
        nonlocal text, pending, last_flush
        offset = len(text)
        text += pending
        _write_frame(claim, text)
        publish_now(
            reply.conversation_id,
            {
                "type": "reply.delta",
                "message_id": reply.pk,
                "seq": reply.seq,
                "offset": offset,
                "text": pending,
            },
        )
        pending = ""
        last_flush = time.perf_counter()

    # A prepared answer (a matching FAQ, "I don't know, shall I get a person?", or the cited
    # passage quoted) streams through the same frames as the model's words, and every text
    # through the same guard (bots.answers).
    plan = answers.plan_reply(bot, engine, context, user.text)
    guard = answers.guard_for(bot, context, (turn.text for turn in history))
    pieces = (
        engine.stream(prompt, max_tokens=bot.max_tokens, temperature=bot.temperature, usage=usage)
        if plan.text is None
        else answers.stream_prepared(plan.text, frame_s)
    )
    # Celery's thread pool (SWITCHBOARD_LLM_CONCURRENCY > 1) enforces no time limit: the
    # reply keeps its own, and an engine that is waiting (for a place in its batch) yields ""
    # about once a second so that the lease is renewed and the limit checked meanwhile.
    deadline = started + settings.LLM_SOFT_TIME_LIMIT
    renew_s = LEASE.total_seconds() / 3
    try:
        for piece in pieces:
            now = time.perf_counter()
            if now > deadline:
                raise SoftTimeLimitExceeded()
            if not piece:
                if now - last_flush >= renew_s:
                    _write_frame(claim, text)  # the lease renewed; LostClaim after a takeover
                    last_flush = now
                continue
            pending += guard.feed(piece)
            if pending and ttft_ms is None:
                ttft_ms = int((time.perf_counter() - started) * 1000)
            # The first text goes out at once (time to first token); then one frame per interval.
            if pending and (not text or time.perf_counter() - last_flush >= frame_s):
                flush()
            if guard.stopped:
                log.info("reply %s cut by the guard: %s", reply.pk, guard.stopped)
                break
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()  # an engine's generator stops generating
    pending += guard.close()
    if pending:
        flush()

    final_text = guard.text or FALLBACK_TEXT
    with transaction.atomic():
        _still_ours(
            claim,
            text=final_text,
            status=Message.Status.FINAL if guard.text else Message.Status.FAILED,
            model_name=plan.model_name,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            # In the task queue, then for a place in the engine's batch (bots/engines/scheduler.py).
            queue_wait_ms=queue_wait_ms + int(usage.queue_wait_s * 1000),
            ttft_ms=ttft_ms,
            total_ms=int((time.perf_counter() - started) * 1000),
            engine_ttft_ms=int(usage.ttft_s * 1000) if usage.ttft_s is not None else None,
            sources=[source.as_frame() for source in context.sources],
            lease_until=None,
            lease_token="",
        )
        publish_message_stored(reply.conversation_id, reply.pk)
        finished = Message.objects.get(pk=reply.pk)
        events.message_created(finished, conversation.organization_id)
    return finished


__all__ = [
    "Busy",
    "Claim",
    "EngineError",
    "LostClaim",
    "claim_reply",
    "fail_reply",
    "generate_reply_for",
    "release_claim",
]
