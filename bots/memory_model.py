"""The model's part in long-term memory: facts the rules miss, and summaries of ended
conversations. Both run on `llm-side` (bots.tasks), never ahead of a customer's reply; what
they find is stored by memory.longterm (facts, summaries)."""

from __future__ import annotations

import json
import logging

from django.conf import settings

from bots.engines import ChatMessage, EngineError, Usage, get_engine
from bots.engines.registry import engine_for_bot
from bots.prompts import template
from memory.conversations.models import Conversation, Message
from memory.longterm.facts import (
    EXTRACTION_EXAMPLES,
    EXTRACTION_SCHEMA,
    grounded_facts,
    remember_fact,
    worth_a_model_look,
)
from memory.longterm.models import ConversationSummary, Origin
from memory.longterm.summaries import save_summary, transcript

log = logging.getLogger(__name__)


def extract_facts_with_model(message_id: int) -> dict[str, str]:
    """Ask the model (grammar-constrained JSON) for facts the rules do not cover; store them."""
    message = (
        Message.objects.select_related("conversation__contact")
        .filter(pk=message_id, role=Message.Role.USER)
        .first()
    )
    if message is None or not worth_a_model_look(message.text):
        return {}
    engine = get_engine("llamacpp", settings.LONGTERM_EXTRACTION_MODEL)
    complete_json = getattr(engine, "complete_json", None)
    if complete_json is None:
        return {}
    prompt: list[ChatMessage] = [
        {"role": "system", "content": template("memory_extraction").strip()}
    ]
    for said, facts in EXTRACTION_EXAMPLES:
        prompt.append({"role": "user", "content": said})
        prompt.append({"role": "assistant", "content": json.dumps(facts)})
    raw = complete_json(
        [*prompt, {"role": "user", "content": message.text[:1000]}],
        schema=EXTRACTION_SCHEMA,
        max_tokens=80,
    )
    facts = grounded_facts(raw, message.text)
    for key, value in facts.items():
        remember_fact(message.conversation.contact, key, value, origin=Origin.MODEL, source=message)
    return facts


def summarise_conversation(conversation_id: int) -> ConversationSummary | None:
    """Write (or refresh) the summary of an ended conversation, with its embedding."""
    conversation = Conversation.objects.select_related("bot").filter(pk=conversation_id).first()
    if conversation is None:
        return None
    existing = ConversationSummary.objects.filter(conversation=conversation).first()
    if existing is not None and existing.through_seq >= conversation.last_seq:
        return existing
    messages = list(conversation.messages.order_by("seq"))
    customer_said = [m.text for m in messages if m.role == Message.Role.USER and m.text]
    if not customer_said:
        return None
    prompt: list[ChatMessage] = [
        {"role": "system", "content": template("conversation_summary").strip()},
        {"role": "user", "content": transcript(messages)[-4000:]},
    ]
    try:
        engine = engine_for_bot(conversation.bot)
        text = "".join(engine.stream(prompt, max_tokens=96, temperature=0.0, usage=Usage()))
    except EngineError as exc:
        # Stored anyway (from the customer's words), so the sweep does not retry it forever.
        log.warning("summary of conversation %s: %s", conversation_id, exc)
        text = ""
    text = text.strip()
    if not text:
        text = "The customer asked: " + customer_said[0][:200]
    return save_summary(conversation, text, customer_said)
