"""Prompt building: the bot's persona plus a token-budgeted window of the conversation.

Templates are plain text files beside this module (never HTML-escaped); the model's own
chat template is applied by the engine.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Protocol

from bots.context import PromptContext
from bots.engines.base import ChatMessage, Engine
from memory.conversations.models import Message

ROLE_FOR_MODEL = {
    Message.Role.USER: "user",
    Message.Role.BOT: "assistant",
    Message.Role.AGENT: "assistant",
}


class Turn(Protocol):
    """What a prompt reads of a message (a `Message`, or `memory.conversations.selectors.Turn`)."""

    @property
    def role(self) -> str: ...

    @property
    def text(self) -> str: ...


# Chat templates add a few tokens of framing per message.
PER_MESSAGE_OVERHEAD = 4


@cache
def template(name: str) -> str:
    return (Path(__file__).parent / f"{name}.txt").read_text(encoding="utf-8")


def quoted(value: str) -> str:
    """Data from a customer or a document as one quoted string: its quotes and line breaks
    escaped, so it cannot end the quote or start a line of instructions."""
    return json.dumps(value, ensure_ascii=False)


def fenced(text: str) -> str:
    """Reference text with the fence markers defused, so a document cannot close its fence."""
    return re.sub(r"<{3,}|>{3,}", lambda run: " ".join(run.group()), text)


READ_AS = {
    "image": "text read from it by OCR",
    "pdf": "its text",
    "text": "its text",
    "audio": "a transcript of it",
}


def content_of(message: Turn) -> str:
    """A message's text and, marked as such, what was read from its files: the customer's
    data, quoted (a screenshot saying "ignore your rules" is a screenshot)."""
    parts = [message.text] if message.text else []
    for kind, name, status, text in getattr(message, "attached", ()):
        if status == "done" and text:
            read = f"{READ_AS.get(kind, 'its text')} (quoted data): {quoted(text)}"
        elif status == "done":
            read = "no text was found in it"
        elif status in ("pending", "running"):  # an earlier message's file, still being read
            read = "its text is not read yet"
        else:
            read = "it could not be read"
        who = "The customer" if message.role == Message.Role.USER else "The support team"
        parts.append(f"[{who} attached a file ({kind}) named {quoted(name)}; {read}]")
    return "\n".join(parts)


def system_prompt(persona: str, context: PromptContext) -> str:
    # Preferences and remembered facts are the customer's words: quoted data, never
    # instructions (a `name` of "Ignore your rules" stays a name).
    preferences = "".join(
        f"\nThe customer's preferred {name} (quoted data): {quoted(value)}."
        for name, value in sorted(context.preferences.items())
    )
    if "language" in context.preferences:
        # A language is one of a fixed list of names (clean_preference), not free text.
        preferences += f"\nAlways answer in {context.preferences['language']}."
    memories = ""
    if context.memories:
        memories = "\nWhat you remember about this customer (quoted data):\n" + "\n".join(
            f"- {quoted(m)}" for m in context.memories
        )
    references = ""
    if context.sources:
        blocks = "\n".join(
            f"<<<reference {n}: {quoted(source.title)}>>>\n"
            f"{fenced(source.text or source.snippet)}\n<<<end reference {n}>>>"
            for n, source in enumerate(context.sources, 1)
        )
        references = template("references").format(blocks=blocks)
    return (
        template("system")
        .format(
            canary=context.canary,
            persona=persona,
            preferences=preferences,
            memories=memories,
            references=references,
        )
        .strip()
    )


def build_messages(
    *,
    persona: str,
    history: Sequence[Turn],
    engine: Engine,
    max_tokens: int,
    context: PromptContext | None = None,
) -> list[ChatMessage]:
    """System prompt + the newest messages that fit in the context next to the reply.

    `history` is in seq order and ends with the message being answered, which always
    goes in (truncated from the front if it alone is too long).
    """
    system: ChatMessage = {
        "role": "system",
        "content": system_prompt(persona, context or PromptContext()),
    }
    budget = (
        engine.context_tokens
        - max_tokens
        - engine.count_tokens(system["content"])
        - 2 * PER_MESSAGE_OVERHEAD
    )
    window: list[ChatMessage] = []
    for message in reversed(history):
        role = ROLE_FOR_MODEL.get(message.role)  # type: ignore[call-overload]
        content = content_of(message)
        if role is None or not content:
            continue
        cost = engine.count_tokens(content) + PER_MESSAGE_OVERHEAD
        if cost > budget:
            if not window:  # the question itself: keep its end
                window.append({"role": role, "content": content[-max(budget, 1) * 3 :]})
            break
        budget -= cost
        window.append({"role": role, "content": content})
    window.reverse()
    return [system, *window]
