"""The engine interface: turn chat messages into a stream of text pieces.

Engines are loaded once per worker process (see registry.get_engine) and never imported
by the web process.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypedDict


class ChatMessage(TypedDict):
    role: str  # "system" | "user" | "assistant"
    content: str


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


class Engine(ABC):
    """One loaded model. `stream` yields text pieces and fills `usage` as it goes."""

    name: str
    model_name: str
    context_tokens: int

    @abstractmethod
    def count_tokens(self, text: str) -> int: ...

    @abstractmethod
    def stream(
        self, messages: list[ChatMessage], *, max_tokens: int, temperature: float, usage: Usage
    ) -> Iterator[str]: ...
