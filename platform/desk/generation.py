"""Model work for agents (runs on the `llm` worker): reply drafts.

Drafts are only ever shown to the agent, who edits and sends them; nothing here writes a
Message or publishes to the customer's conversation group.
"""

from __future__ import annotations

from collections.abc import Callable

from bots.context import gather_context
from bots.engines import Usage, get_engine
from bots.engines.base import ChatMessage
from bots.prompts import build_messages
from desk import events
from memory.models import Conversation, Message

DRAFT_TOKENS = 160


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
