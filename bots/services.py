"""The reply pipeline, read top to bottom: claim → context → prompt → stream → finish.

`generate_reply` is the whole path of one reply (its task only fetches by id and calls it);
each step below is one function of this module. The reply row is the claim: one per user
message (a unique `reply_to`), taken or re-taken with a lease token, so a task that runs twice
(acks_late redelivery, a duplicate enqueue) produces one reply, and a worker that lost its
lease (or whose conversation an agent took over) can no longer write or publish. When a reply
cannot be made, the customer gets the fallback line and the offer of a person: see the end.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from bots import answers
from bots.answers import Plan
from bots.context import PromptContext, gather_context
from bots.engines import Engine, EngineError, Usage
from bots.engines.base import ChatMessage, Media
from bots.engines.registry import engine_for_bot
from bots.grounding import ReplyGuard
from bots.models import Bot
from bots.prompts import build_messages
from core.holders import holder_is_dead, new_token
from core.realtime import publish_message_stored, publish_now
from core.rows import Columns, cache_related
from memory.conversations import events
from memory.conversations.attachments import stored_files
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


def generate_reply(user_message_id: int, *, after_conversation: int | None = None) -> float | None:
    """Answer one customer message, once: the whole reply path in five steps. Returns the
    seconds after which the task is to try again, or None when there is nothing more to do."""
    try:
        claim = claim_reply(user_message_id, after_conversation=after_conversation)
    except Busy as busy:
        # Another attempt holds a live lease (a duplicate delivery): look again after it.
        return busy.retry_in + 0.5
    if claim is None:
        return None
    try:
        context = collect_context(claim.question)
        prompt = write_prompt(claim.question, context)
        streamed = stream_reply(claim, context, prompt)
        finish_reply(claim, context, prompt, streamed)
    except LostClaim:
        log.info("reply to message %s: claim lost, stopping", user_message_id)
        return None
    except Exception as exc:  # noqa: BLE001 - every failure ends in a retry or the fallback
        return give_up_or_retry(claim, exc)
    return None


# 1. Claim ------------------------------------------------------------------------------


@dataclass
class Claim:
    reply: Message
    token: str
    question: Message  # the customer's message, with its conversation and bot loaded


class Busy(Exception):
    """Another live worker holds the reply's lease; try again after `retry_in` seconds."""

    def __init__(self, retry_in: float) -> None:
        self.retry_in = retry_in


class LostClaim(Exception):
    """The lease moved to another attempt, or the conversation left the bot: stop quietly."""


def claim_reply(user_message_id: int, *, after_conversation: int | None = None) -> Claim | None:
    """Take the right to generate this message's reply; None when there is nothing to do.

    `after_conversation`: the task was sent from inside the transaction that stored the
    message (`bots.tasks.queue_reply_early`); its conversation's row lock is waited for first.
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


def _wait_for_writer(conversation_id: int) -> None:
    """Wait until the transaction that queued this task from inside itself has ended."""
    list(Conversation.objects.select_for_update().filter(pk=conversation_id).values_list("pk"))


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
    conversations must not queue behind each other). Hand-written (core.rows): as the ORM's
    `select_related` + `select_for_update` plus the reply's lookup it cost 7 ms more per
    claim at the median (docs/architecture.md).
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


# 2. Context ----------------------------------------------------------------------------


@dataclass
class Context:
    """What the reply may use: the conversation so far, and what it is grounded in."""

    bot: Bot
    engine: Engine
    history: list[Turn]  # oldest first, ending with the question
    grounding: PromptContext  # knowledge, the customer's memory and preferences (bots.context)
    queue_wait_ms: int  # the question stored → this generation started
    started: float  # perf_counter at that start: the reply's ttft_ms and total_ms count from it


def collect_context(question: Message) -> Context:
    """What the reply to `question` (with its conversation and bot) may draw on."""
    started = time.perf_counter()
    conversation = question.conversation  # as claimed; each frame re-checks who owns it now
    queue_wait_ms = max(0, int((timezone.now() - question.created_at).total_seconds() * 1000))
    engine = engine_for_bot(conversation.bot)
    return Context(
        bot=conversation.bot,
        engine=engine,
        # The newest messages only: the window is cut to the model's context anyway.
        history=recent_turns(conversation.pk, question.seq, HISTORY_MESSAGES),
        grounding=gather_context(conversation, question),
        queue_wait_ms=queue_wait_ms,
        started=started,
    )


# 3. Prompt -----------------------------------------------------------------------------


@dataclass
class Prompt:
    messages: list[ChatMessage]  # what the model reads (bots/prompts/)
    # A prepared answer (a matching FAQ, "I don't know, shall I get a person?", or the cited
    # passage quoted) instead of the model's words (bots.answers).
    plan: Plan


def write_prompt(question: Message, context: Context) -> Prompt:
    """The messages the engine is given (a customer's files as the text read from them, and
    for a vision or audio model the question's images or audio themselves), and whether a
    prepared answer replaces the model's words."""
    bot = context.bot
    messages = build_messages(
        persona=bot.persona,
        history=context.history,
        engine=context.engine,
        max_tokens=bot.max_tokens,
        context=context.grounding,
    )
    if context.engine.media_kinds and messages[-1]["role"] == "user":
        media = _media_of(question, context.engine.media_kinds)
        if media:
            messages[-1] = {**messages[-1], "media": media}
    return Prompt(
        messages=messages,
        plan=answers.plan_reply(bot, context.engine, context.grounding, question.text),
    )


def _media_of(question: Message, kinds: frozenset[str]) -> list[Media]:
    """The question's files the model takes itself, read from storage (earlier messages'
    files reach it as their text only)."""
    return [
        {"kind": attachment.kind, "data": data, "name": attachment.name}
        for attachment, data in stored_files(question.pk, kinds)
    ]


# 4. Stream -----------------------------------------------------------------------------


@dataclass
class Streamed:
    guard: ReplyGuard  # its `text` is what was sent, all of it
    usage: Usage
    ttft_ms: int | None


def stream_reply(claim: Claim, context: Context, prompt: Prompt) -> Streamed:
    """Send the reply in ~40 ms frames, each written to the row first, then published.

    A prepared answer streams through the same frames as the model's words, and every text
    through the same guard: no loop, no invented figure, the bot's length (bots.answers).
    """
    bot = context.bot
    frame_s = settings.LLM_STREAM_FRAME_MS / 1000
    usage = Usage()
    guard = answers.guard_for(bot, context.grounding, (turn.text for turn in context.history))
    if settings.PROMPT_LOG and prompt.plan.text is None:
        log_prompt(claim, context, prompt)
    pieces: Iterator[str] = (
        context.engine.stream(
            prompt.messages, max_tokens=bot.max_tokens, temperature=bot.temperature, usage=usage
        )
        if prompt.plan.text is None
        else answers.stream_prepared(prompt.plan.text, frame_s)
    )
    sent = ""
    pending = ""
    last_flush = 0.0
    ttft_ms: int | None = None
    # Celery's thread pool (SWITCHBOARD_LLM_CONCURRENCY > 1) enforces no time limit: the
    # reply keeps its own, and an engine that is waiting (for a place in its batch) yields ""
    # about once a second so that the lease is renewed and the limit checked meanwhile.
    deadline = context.started + settings.LLM_SOFT_TIME_LIMIT
    renew_s = LEASE.total_seconds() / 3
    try:
        for piece in pieces:
            now = time.perf_counter()
            if now > deadline:
                raise SoftTimeLimitExceeded()
            if not piece:
                if now - last_flush >= renew_s:
                    # The lease renewed; LostClaim after a takeover.
                    _still_ours(claim, lease_until=timezone.now() + LEASE)
                    last_flush = now
                continue
            pending += guard.feed(piece)
            if pending and ttft_ms is None:
                ttft_ms = int((time.perf_counter() - context.started) * 1000)
            # The first text goes out at once (time to first token); then one frame per interval.
            if pending and (not sent or time.perf_counter() - last_flush >= frame_s):
                sent = _send_frame(claim, sent, pending)
                pending = ""
                last_flush = time.perf_counter()
            if guard.stopped:
                log.info("reply %s cut by the guard: %s", claim.reply.pk, guard.stopped)
                break
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()  # an engine's generator stops generating
    pending += guard.close()
    if pending:
        _send_frame(claim, sent, pending)
    return Streamed(guard=guard, usage=usage, ttft_ms=ttft_ms)


def log_prompt(claim: Claim, context: Context, prompt: Prompt) -> None:
    """Append what the engine is given to SWITCHBOARD_PROMPT_LOG, one JSON line a reply: for
    debugging a bot's answers (and the tests). It holds customers' words: off by default."""
    line = json.dumps(
        {
            "reply_id": claim.reply.pk,
            "question_id": claim.question.pk,
            "engine": context.engine.name,
            "model": context.engine.model_name,
            "messages": [{"role": m["role"], "content": m["content"]} for m in prompt.messages],
        }
    )
    # One write of a line opened for appending: workers' lines do not interleave.
    fd = os.open(settings.PROMPT_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def _send_frame(claim: Claim, sent: str, new: str) -> str:
    """Write the text so far to the row (renewing the lease), then publish the new part."""
    reply = claim.reply
    text = sent + new
    _still_ours(claim, text=text, lease_until=timezone.now() + LEASE)
    publish_now(
        reply.conversation_id,
        {
            "type": "reply.delta",
            "message_id": reply.pk,
            "seq": reply.seq,
            "offset": len(sent),
            "text": new,
        },
    )
    return text


def _still_ours(claim: Claim, **fields: object) -> None:
    """Conditional write: only the lease holder, only while the bot owns the conversation.

    This is how a takeover cuts the reply: the agent's transaction moves the conversation
    away from the bot, and the worker's next write finds no row.
    """
    updated = Message.objects.filter(
        pk=claim.reply.pk,
        lease_token=claim.token,
        status=Message.Status.STREAMING,
        conversation__status=Conversation.Status.BOT,
    ).update(updated_at=timezone.now(), **fields)
    if not updated:
        raise LostClaim()


# 5. Finish -----------------------------------------------------------------------------


def finish_reply(claim: Claim, context: Context, prompt: Prompt, streamed: Streamed) -> None:
    """Store the final text with its timings and sources, release the lease, tell the sockets."""
    reply = claim.reply
    usage = streamed.usage
    final_text = streamed.guard.text or FALLBACK_TEXT
    with transaction.atomic():
        _still_ours(
            claim,
            text=final_text,
            status=Message.Status.FINAL if streamed.guard.text else Message.Status.FAILED,
            model_name=prompt.plan.model_name,
            prompt_tokens=usage.prompt_tokens,
            completion_tokens=usage.completion_tokens,
            # In the task queue, then for a place in the engine's batch (bots/engines/scheduler.py).
            queue_wait_ms=context.queue_wait_ms + int(usage.queue_wait_s * 1000),
            ttft_ms=streamed.ttft_ms,
            total_ms=int((time.perf_counter() - context.started) * 1000),
            engine_ttft_ms=int(usage.ttft_s * 1000) if usage.ttft_s is not None else None,
            sources=[source.as_frame() for source in context.grounding.sources],
            lease_until=None,
            lease_token="",
        )
        publish_message_stored(reply.conversation_id, reply.pk)
        # Webhooks, analytics and desk's handoff rules follow the reply through its event.
        finished = Message.objects.get(pk=reply.pk)
        events.message_created(finished, context.bot.organization_id)


# When a reply cannot be made -----------------------------------------------------------


def give_up_or_retry(claim: Claim, exc: Exception) -> float | None:
    """Three attempts at most (a permanent engine error: one), then the fallback line; the
    seconds until the next attempt, or None."""
    user_message_id = claim.question.pk
    if isinstance(exc, SoftTimeLimitExceeded):
        fail_reply(user_message_id, "timed out")
        return None
    if isinstance(exc, EngineError):
        log.warning("reply to message %s failed: %s", user_message_id, exc)
        error = str(exc)
        permanent = exc.permanent
    else:
        log.error("reply to message %s crashed", user_message_id, exc_info=exc)
        error = f"crashed: {exc}"
        permanent = False
    if permanent or claim.reply.attempts >= settings.LLM_MAX_ATTEMPTS:
        fail_reply(user_message_id, error)
        return None
    release_claim(claim)
    return float(2**claim.reply.attempts)


def release_claim(claim: Claim) -> None:
    """Let the next attempt start at once instead of waiting for the lease to run out."""
    Message.objects.filter(pk=claim.reply.pk, lease_token=claim.token).update(
        lease_until=timezone.now()
    )


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
