"""The engine interface: turn chat messages into a stream of text pieces.

Engines are loaded once per worker process (`bots.engines.get_engine`) and never imported
by the web process.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NotRequired, TypedDict

# A support answer ends where a model would start role-playing the next turn or echo the
# prompt's reference markers; every engine stops there.
STOP_SEQUENCES = ["\nCustomer:", "\nUser:", "\nAgent:", "<<<"]
# Repetition control, each engine in its own terms (bots.grounding also cuts any loop).
REPEAT_PENALTY = 1.15  # llama.cpp's repeat_penalty, transformers' repetition_penalty
FREQUENCY_PENALTY = 0.4  # OpenAI-compatible servers' frequency_penalty
# Below this many parameters a model is "small": a grounded reply quotes its passage
# instead of trusting the model with the facts (bots.answers).
SMALL_MODEL_PARAMETERS = 1_000_000_000


class Media(TypedDict):
    """A customer's file as the model itself takes it (an engine whose `media_kinds` has its
    kind): the stored bytes, next to the text read from it that `content` already carries."""

    kind: str  # "image" | "audio"
    data: bytes
    name: str


class ChatMessage(TypedDict):
    role: str  # "system" | "user" | "assistant"
    content: str
    media: NotRequired[list[Media]]  # only for engines that take them; others ignore it


class EngineError(Exception):
    """A generation failed; `permanent` errors are not retried (bad model path, bad request)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_s: float | None = field(default=None)  # the engine's own time to first token
    # Time the request waited for a place in a shared batch (bots/engines/scheduler.py).
    queue_wait_s: float = 0.0


class Engine(ABC):
    """One loaded model. `stream` yields text pieces and fills `usage` as it goes."""

    name: str
    model_name: str
    context_tokens: int
    parameters: int | None = None  # the model's size, where the engine can tell
    # The attachment kinds the model itself takes (a vision or audio model); empty: the
    # pipeline reads no files for it and the prompt's text of them is all it gets.
    media_kinds: frozenset[str] = frozenset()

    @property
    def small(self) -> bool:
        return self.parameters is not None and self.parameters < SMALL_MODEL_PARAMETERS

    @abstractmethod
    def count_tokens(self, text: str) -> int: ...

    @abstractmethod
    def stream(
        self, messages: list[ChatMessage], *, max_tokens: int, temperature: float, usage: Usage
    ) -> Iterator[str]: ...
