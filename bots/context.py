"""What a reply is grounded in, gathered before the prompt is built.

Each source of context (knowledge base, the customer's memory and preferences, past
conversations) fills its own part; `build_messages` places them in the prompt, and the
reply's `sources` are stored and shown under the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from memory.models import Conversation, Message


@dataclass
class Source:
    """One retrieved passage: shown under the answer, placed in the prompt as reference text."""

    kind: str  # "knowledge" | "faq" | "conversation"
    title: str
    snippet: str
    text: str = ""  # what goes into the prompt (the snippet is what the customer sees)
    url: str = ""
    score: float = 0.0
    ref: dict[str, Any] = field(default_factory=dict)  # ids: chunk, document, conversation

    def as_frame(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "url": self.url,
            "snippet": self.snippet,
            **self.ref,
        }


@dataclass
class PromptContext:
    sources: list[Source] = field(default_factory=list)
    memories: list[str] = field(default_factory=list)  # durable facts about this customer
    preferences: dict[str, str] = field(default_factory=dict)  # language, tone, name, channel
    curated_answer: str | None = None  # a well-matching FAQ answer wins over generation


def gather_context(conversation: Conversation, question: Message) -> PromptContext:
    """Everything the reply to `question` may use; each part isolated to this bot/contact in SQL."""
    from memory.knowledge.services import retrieve_for_prompt
    from memory.longterm.selectors import recall

    knowledge = retrieve_for_prompt(conversation, question)
    remembered = recall(conversation, question.text)
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
