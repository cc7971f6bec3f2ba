"""How a reply is written: a prepared answer, the cited passage quoted, or the model's words.

- A curated answer (a FAQ that matches, "I don't know, shall I get a person?") wins.
- A reply grounded in the knowledge base is *quoted* when the bot says so, or by default when
  its model is small (`Engine.small`): the passage's sentences that answer the question, in
  the passage's words. A 135M model loops and invents figures; it must not be the only
  carrier of a fact (docs/knowledge.md).
- Otherwise the model writes it.

Whichever way, the text goes through `ReplyGuard`: no loop, no figure that is in neither the
sources nor the conversation, and the bot's length.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from bots.context import PromptContext
from bots.engines import Engine
from bots.engines.base import STOP_SEQUENCES
from bots.grounding import ReplyGuard, figures, relevant_sentences
from bots.models import AnswerStyle, Bot
from memory.conversations.sources import Source
from memory.embeddings import embed_one

QUOTE_WORDS = 80  # a quoted answer: a passage this short whole, else its best sentences


@dataclass
class Plan:
    """What a reply will say before a word is sent: a prepared text, or the model's stream."""

    text: str | None  # None: the model writes
    model_name: str  # stored on the reply: "curated", "quoted" or the engine's model


def style_for(bot: Bot, engine: Engine) -> str:
    if bot.answer_style != AnswerStyle.AUTO:
        return str(bot.answer_style)
    return AnswerStyle.QUOTED if engine.small else AnswerStyle.GENERATED


def _quotable(sources: Sequence[Source]) -> Source | None:
    """The best knowledge passage (a past conversation is cited, never quoted)."""
    return next((s for s in sources if s.kind != "conversation" and s.quote), None)


def plan_reply(bot: Bot, engine: Engine, context: PromptContext, question: str) -> Plan:
    if context.curated_answer is not None:
        return Plan(context.curated_answer, "curated")
    passage = _quotable(context.sources)
    if passage is None or style_for(bot, engine) != AnswerStyle.QUOTED:
        return Plan(None, engine.model_name)
    chosen = relevant_sentences(
        embed_one(question), passage.quote, max_words=min(QUOTE_WORDS, bot.answer_words)
    )
    if not chosen:
        return Plan(None, engine.model_name)
    # Knowledge comes first among the sources: the passage quoted is the one cited first.
    return Plan(" ".join(chosen), "quoted")


def guard_for(bot: Bot, context: PromptContext, conversation: Iterable[str]) -> ReplyGuard:
    """The checks a reply streams through; figures may come from what the bot was given."""
    given = [bot.persona, *(s.text or s.snippet for s in context.sources), *context.memories]
    given += [*context.preferences.values(), *conversation]
    return ReplyGuard(
        max_words=bot.answer_words,
        allowed_figures=figures("\n".join(given)),
        stops=tuple(STOP_SEQUENCES),
        canaries=(context.canary,),
    )


def stream_prepared(text: str, frame_s: float) -> Iterator[str]:
    """A prepared answer, word by word at about four words a frame, so it streams like a reply."""
    for n, word in enumerate(re.findall(r"\S+\s*", text)):
        if n:
            time.sleep(frame_s / 4)
        yield word
