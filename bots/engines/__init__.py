"""Model engines behind one interface, chosen per bot; loaded once per worker process."""

from __future__ import annotations

import atexit
import os
import threading
from collections import OrderedDict
from collections.abc import Callable

from django.conf import settings

from .base import ChatMessage, Engine, EngineError, Media, Usage

__all__ = [
    "ChatMessage",
    "Engine",
    "EngineError",
    "Media",
    "Usage",
    "get_engine",
    "register_engine",
    "registered_kinds",
    "scheduler_depths",
]

# Least recently used last out: at most settings.LLM_ENGINE_CACHE engines stay loaded.
_engines: OrderedDict[tuple[str, str], Engine] = OrderedDict()
_extra: dict[str, Callable[[str], Engine]] = {}
_lock = threading.Lock()


@atexit.register
def close_engines() -> None:
    # llama.cpp frees its model in __del__, which fails once the interpreter is tearing
    # down its modules: close loaded engines while everything still exists.
    for engine in list(_engines.values()):
        _close(engine)
    _engines.clear()


# transformers' continuous batching runs its generation loop on a non-daemon thread, which
# the interpreter joins at exit before `atexit` handlers run: a process that loaded a
# transformers engine never exited. Closed first, as concurrent.futures closes its pools.
getattr(threading, "_register_atexit", atexit.register)(close_engines)


def _close(engine: Engine) -> None:
    close = getattr(engine, "close", None)
    if callable(close):
        close()


def register_engine(kind: str, factory: Callable[[str], Engine]) -> None:
    """Add an engine kind in this process only (the benchmarks' instant engine, bench/)."""
    _extra[kind] = factory


def registered_kinds() -> set[str]:
    return set(_extra)


def canonical_model(kind: str, model: str) -> str:
    """A file or folder by its resolved path: `a/../b.gguf` and a symlink load it once."""
    if kind in ("llamacpp", "transformers") and model:
        return os.path.realpath(model)
    return model


def get_engine(kind: str, model: str = "") -> Engine:
    """The loaded engine for (kind, model), built on first use in this process; the least
    recently used one is closed when more than settings.LLM_ENGINE_CACHE are loaded."""
    model = canonical_model(kind, model)
    key = (kind, model)
    with _lock:
        engine = _engines.get(key)
        if engine is not None:
            _engines.move_to_end(key)
            return engine
        engine = _engines[key] = _build(kind, model)
        while len(_engines) > settings.LLM_ENGINE_CACHE:
            _, evicted = _engines.popitem(last=False)
            _close(evicted)
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
            model,
            context_tokens=settings.LLM_CONTEXT_TOKENS,
            device=settings.LLM_DEVICE,
            slots=settings.LLM_BATCH_SLOTS,
            kv_blocks=settings.LLM_KV_BLOCKS,
            max_batch_tokens=settings.LLM_MAX_BATCH_TOKENS,
            warm_up=settings.LLM_WARMUP,
            compile_level=settings.LLM_COMPILE_LEVEL,
            fault_injection=settings.FAULT_INJECTION,
            temperature=settings.LLM_TEMPERATURE,
            image_max_pixels=settings.LLM_IMAGE_MAX_PIXELS,
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
            max_streams=settings.LLM_CONCURRENCY,
        )
    if kind == "fault" and settings.FAULT_INJECTION:
        from .faults import FaultEngine

        return FaultEngine(model)
    raise EngineError(f"unknown engine {kind!r}", permanent=True)


def scheduler_depths() -> dict[str, dict[str, int]]:
    """What each loaded engine's shared scheduler holds now (bots/engines/scheduler.py), by
    model name: in the batch, waiting for a slot, slots, served, failed, cancelled."""
    with _lock:
        engines = list(_engines.values())
    depths = {}
    for engine in engines:
        scheduler = getattr(engine, "scheduler", None)
        if scheduler is not None:
            depths[engine.model_name] = scheduler.depth().as_dict()
    return depths
