"""Model work for agents (runs on the `llm` worker): the handoff summary and reply drafts.

Drafts are only ever shown to the agent, who edits and sends them; nothing here writes a
Message or publishes to the customer's conversation group.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction

from bots.context import gather_context
from bots.engines import Usage, get_engine
from bots.engines.base import ChatMessage
from bots.prompts import build_messages, template
from desk import events
from desk.models import Handoff
from memory.models import Conversation, Message

SUMMARY_TOKENS = 96
DRAFT_TOKENS = 160
TRANSCRIPT_CHARS = 3000
LABEL = {"user": "Customer", "bot": "Bot", "agent": "Agent", "system": "System"}


def _transcript(conversation: Conversation, up_to_seq: int | None = None) -> str:
    messages = Message.objects.filter(conversation=conversation).exclude(text="")
    if up_to_seq is not None:
        messages = messages.filter(seq__lte=up_to_seq)
    lines = [f"{LABEL.get(m.role, m.role)}: {m.text}" for m in messages.order_by("seq")]
    return "\n".join(lines)[-TRANSCRIPT_CHARS:]


class Abandoned(Exception):
    """Nobody needs the text any more (the trip ended while it was being written)."""


def _generate(
    conversation: Conversation,
    prompt: list[ChatMessage],
    max_tokens: int,
    still_wanted: Callable[[], bool] | None = None,
) -> str:
    bot = conversation.bot
    engine = get_engine(bot.engine, bot.model)
    text = ""
    for n, piece in enumerate(
        engine.stream(prompt, max_tokens=max_tokens, temperature=0.0, usage=Usage())
    ):
        text += piece
        # The `llm` worker is shared with customers' replies: stop early when the agent no
        # longer needs this (handed back, resolved) instead of holding the queue.
        if still_wanted is not None and n % 16 == 15 and not still_wanted():
            raise Abandoned()
    return text.strip()


def summarize_handoff(handoff_id: int) -> Handoff | None:
    """Write the trip's summary once (claimed pending → running, so a redelivery skips it)."""
    with transaction.atomic():
        claimed = Handoff.objects.filter(
            pk=handoff_id, summary_status=Handoff.SummaryStatus.PENDING
        ).update(summary_status=Handoff.SummaryStatus.RUNNING)
    if not claimed:
        return None
    handoff = Handoff.objects.select_related("conversation__bot").filter(pk=handoff_id).first()
    if handoff is None:
        return None
    conversation = handoff.conversation
    transcript = _transcript(conversation, handoff.up_to_seq) or "(no messages)"
    prompt: list[ChatMessage] = [
        {"role": "system", "content": template("handoff_summary").strip()},
        {"role": "user", "content": f"Conversation:\n{transcript}\n\nSummary for the agent:"},
    ]

    def trip_open() -> bool:
        return Handoff.objects.filter(pk=handoff_id, ended_at__isnull=True).exists()

    try:
        if not trip_open():
            raise Abandoned()
        text = _generate(conversation, prompt, SUMMARY_TOKENS, still_wanted=trip_open)
    except Abandoned:
        Handoff.objects.filter(pk=handoff_id).update(summary_status=Handoff.SummaryStatus.FAILED)
        return None
    except Exception:
        Handoff.objects.filter(pk=handoff_id).update(summary_status=Handoff.SummaryStatus.FAILED)
        raise
    Handoff.objects.filter(pk=handoff_id).update(
        summary=text, summary_status=Handoff.SummaryStatus.DONE
    )
    events.queue_changed(conversation.organization_id)
    events.summary_ready(conversation.pk)
    handoff.refresh_from_db()
    return handoff


def draft_reply(conversation_id: int, user_id: int) -> str:
    """A suggested next agent message from the knowledge base and the history; sent to the
    agent who asked (their own group), never to the customer."""
    conversation = Conversation.objects.select_related("bot").get(pk=conversation_id)
    bot = conversation.bot
    history = list(
        Message.objects.filter(conversation=conversation)
        .exclude(status__in=[Message.Status.STREAMING, Message.Status.FAILED])
        .order_by("seq")
    )
    last_customer = next((m for m in reversed(history) if m.role == Message.Role.USER), None)
    context = gather_context(conversation, last_customer) if last_customer else None
    engine = get_engine(bot.engine, bot.model)
    prompt = build_messages(
        persona=bot.persona
        + "\nYou are drafting the next reply for a human support agent to review.",
        history=history,
        engine=engine,
        max_tokens=DRAFT_TOKENS,
        context=context,
    )
    if prompt[-1]["role"] != "user":
        prompt.append({"role": "user", "content": "(Write the agent's next reply.)"})
    text = _generate(conversation, prompt, DRAFT_TOKENS)
    sources = [s.as_frame() for s in context.sources] if context else []
    events.draft_ready(user_id, conversation_id, text, sources=sources)
    return text
