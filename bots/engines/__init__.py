"""Model engines behind one interface, chosen per bot; loaded once per worker process."""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable

from django.conf import settings

from .base import ChatMessage, Engine, EngineError, Usage

__all__ = ["ChatMessage", "Engine", "EngineError", "Usage", "get_engine", "register_engine"]

_engines: dict[tuple[str, str], Engine] = {}
_extra: dict[str, Callable[[str], Engine]] = {}
_lock = threading.Lock()


@atexit.register
def _close_engines() -> None:
    # llama.cpp frees its model in __del__, which fails once the interpreter is tearing
    # down its modules: close loaded engines while everything still exists.
    for engine in list(_engines.values()):
        close = getattr(engine, "close", None)
        if callable(close):
            close()
    _engines.clear()


def register_engine(kind: str, factory: Callable[[str], Engine]) -> None:
    """Add an engine kind in this process only (the benchmarks' instant engine, bench/)."""
    _extra[kind] = factory


def get_engine(kind: str, model: str = "") -> Engine:
    """The loaded engine for (kind, model), built on first use in this process."""
    key = (kind, model)
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = _build(kind, model)
        return engine


def _build(kind: str, model: str) -> Engine:
    if kind in _extra:
        return _extra[kind](model)
    if kind == "llamacpp":
        from .llamacpp import LlamaCppEngine

        return LlamaCppEngine(
            model, context_tokens=settings.LLM_CONTEXT_TOKENS, threads=settings.LLM_THREADS
        )
    if kind == "transformers":
        from .transformers import TransformersEngine

        return TransformersEngine(
            model, context_tokens=settings.LLM_CONTEXT_TOKENS, device=settings.LLM_DEVICE
        )
    if kind == "openai":
        from .openai_compat import OpenAICompatEngine

        return OpenAICompatEngine(
            model,
            base_url=settings.OPENAI_BASE_URL,
            api_key=settings.OPENAI_API_KEY,
            connect_timeout=settings.OPENAI_CONNECT_TIMEOUT,
            read_timeout=settings.OPENAI_READ_TIMEOUT,
            context_tokens=settings.LLM_CONTEXT_TOKENS,
        )
    if kind == "fault" and settings.FAULT_INJECTION:
        from .faults import FaultEngine

        return FaultEngine(model)
    raise EngineError(f"unknown engine {kind!r}", permanent=True)
