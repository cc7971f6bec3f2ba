"""What a reply is grounded in, gathered before the prompt is built.

Each source of context (knowledge base, the customer's memory and preferences, past
conversations) fills its own part; `build_messages` places them in the prompt, and the
reply's `sources` are stored and shown under the answer.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass, field

from django.db import connection

from memory.conversations.models import Conversation, Message
from memory.conversations.sources import Source
from memory.knowledge.models import Document
from memory.knowledge.services import NOT_READY_TEXT, retrieve_for_prompt
from memory.longterm.models import ConversationSummary, MemoryItem, Preference
from memory.longterm.selectors import recall


@dataclass
class PromptContext:
    sources: list[Source] = field(default_factory=list)
    memories: list[str] = field(default_factory=list)  # durable facts about this customer
    preferences: dict[str, str] = field(default_factory=dict)  # language, tone, name, channel
    curated_answer: str | None = None  # a well-matching FAQ answer wins over generation
    # A random token in the system prompt: the reply guard cuts any reply that repeats it
    # (a model reciting its instructions), so it can never reach a customer.
    canary: str = field(default_factory=lambda: f"sbc-{secrets.token_hex(8)}")


@dataclass
class Stored:
    """What there is to look in for this reply, asked in one query before any search."""

    has_knowledge: bool  # the bot has an ingested knowledge base
    knowledge_pending: bool  # ... or documents on their way to becoming one
    has_memories: bool  # the contact has remembered facts
    has_summaries: bool  # ... or summaries of past conversations with this bot
    preferences: dict[str, str]  # the contact's, name -> value


@functools.cache
def _stored_sql() -> str:
    return f"""
SELECT
  EXISTS (SELECT 1 FROM {Document._meta.db_table}
          WHERE bot_id = %(bot)s AND chunks_total > 0 AND ingested_at IS NOT NULL),
  EXISTS (SELECT 1 FROM {Document._meta.db_table}
          WHERE bot_id = %(bot)s AND status IN ('pending', 'running')),
  EXISTS (SELECT 1 FROM {MemoryItem._meta.db_table} WHERE contact_id = %(contact)s),
  EXISTS (SELECT 1 FROM {ConversationSummary._meta.db_table} s
          JOIN {Conversation._meta.db_table} c ON c.id = s.conversation_id
          WHERE s.contact_id = %(contact)s AND c.bot_id = %(bot)s
            AND s.embedding IS NOT NULL AND s.conversation_id <> %(conversation)s),
  (SELECT coalesce(json_agg(json_build_array(name, value)), '[]')
   FROM {Preference._meta.db_table} WHERE contact_id = %(contact)s)
"""  # noqa: S608 - table names from the models, values as parameters


def what_is_stored(conversation: Conversation) -> Stored:
    """One round trip instead of one per source: most replies have no memories to search,
    and a bot without a knowledge base has no chunks to."""
    with connection.cursor() as cursor:
        cursor.execute(
            _stored_sql(),
            {
                "bot": conversation.bot_id,
                "contact": conversation.contact_id,
                "conversation": conversation.pk,
            },
        )
        # json_agg gives json (not jsonb, which Django loads as text): decoded by psycopg.
        has_knowledge, pending, has_memories, has_summaries, preferences = cursor.fetchone()
    return Stored(
        has_knowledge=bool(has_knowledge),
        knowledge_pending=bool(pending),
        has_memories=bool(has_memories),
        has_summaries=bool(has_summaries),
        preferences=dict(sorted((str(k), str(v)) for k, v in preferences)),
    )


def gather_context(conversation: Conversation, question: Message) -> PromptContext:
    """Everything the reply to `question` may use; each part isolated to this bot/contact in SQL."""
    stored = what_is_stored(conversation)
    if not stored.has_knowledge and stored.knowledge_pending:
        # The first documents are still being indexed (a first start): an answer now would
        # be a guess without sources, so say so instead.
        return PromptContext(curated_answer=NOT_READY_TEXT)
    knowledge = retrieve_for_prompt(conversation, question, has_knowledge=stored.has_knowledge)
    remembered = recall(
        conversation,
        question.text,
        preferences=stored.preferences,
        searchable=stored.has_memories or stored.has_summaries,
    )
    curated_answer = knowledge.curated_answer
    if knowledge.outcome == "no_knowledge" and remembered.sources:
        # "I don't know" gives way when one of this customer's past chats is relevant: the
        # model answers from it and cites it.
        curated_answer = None
    return PromptContext(
        sources=knowledge.sources + remembered.sources,
        memories=remembered.memories,
        preferences=remembered.preferences,
        curated_answer=curated_answer,
    )
