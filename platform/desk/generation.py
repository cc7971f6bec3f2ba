"""Reply drafts for agents (a task on the `llm-side` queue, never ahead of a customer's reply).

A draft is written the way the bot's own reply would be (bots.answers): the cited passage
quoted on a small model, the model's words otherwise, through the same guard. It is only
ever shown to the agent who asked, who edits and sends it; nothing here writes a Message or
publishes to the customer's conversation group.
"""

from __future__ import annotations

from bots import answers
from bots.context import PromptContext, gather_context
from bots.engines import Usage
from bots.engines.registry import engine_for_bot
from bots.prompts import build_messages
from desk import events
from memory.conversations.models import Conversation, Message

DRAFT_TOKENS = 160


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
    context = gather_context(conversation, last_customer) if last_customer else PromptContext()
    engine = engine_for_bot(bot)
    plan = answers.plan_reply(bot, engine, context, last_customer.text if last_customer else "")
    # "I don't know, shall I get a person?" is the bot's line; the agent is that person.
    text = plan.text if plan.text is not None and context.sources else None
    if text is None:
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
        guard = answers.guard_for(bot, context, (m.text for m in history))
        pieces = engine.stream(prompt, max_tokens=DRAFT_TOKENS, temperature=0.0, usage=Usage())
        for piece in pieces:
            guard.feed(piece)
            if guard.stopped:
                break
        guard.close()
        text = guard.text
    sources = [s.as_frame() for s in context.sources]
    events.draft_ready(user_id, conversation_id, text, sources=sources)
    return text
