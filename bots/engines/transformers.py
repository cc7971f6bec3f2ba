"""transformers: any Hugging Face model folder (Qwen2-*-Instruct in production), GPU if any."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .base import REPEAT_PENALTY, STOP_SEQUENCES, ChatMessage, Engine, EngineError, Usage


class TransformersEngine(Engine):
    name = "transformers"

    def __init__(self, model: str, *, context_tokens: int = 4096, device: str = "auto") -> None:
        path = Path(model)
        if not model or not (path / "config.json").is_file():
            raise EngineError(
                f"transformers needs a local model folder with config.json, not {model!r}",
                permanent=True,
            )
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self._device = device
        self._torch = torch
        # Offline and safe formats only: never a hub download, never a pickle.
        self._tokenizer: Any = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        if not getattr(self._tokenizer, "chat_template", None):
            raise EngineError(f"{model!r} has no chat template", permanent=True)
        dtype = torch.bfloat16 if device == "cuda" else torch.float32
        loaded: Any = AutoModelForCausalLM.from_pretrained(
            str(path), local_files_only=True, use_safetensors=True, dtype=dtype
        )
        self._model: Any = loaded.to(device)
        self._model.eval()
        self.model_name = path.name
        self.parameters = int(sum(p.numel() for p in self._model.parameters()))
        self.context_tokens = min(
            context_tokens,
            int(getattr(self._model.config, "max_position_embeddings", context_tokens)),
        )

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def stream(
        self, messages: list[ChatMessage], *, max_tokens: int, temperature: float, usage: Usage
    ) -> Iterator[str]:
        from transformers import TextIteratorStreamer

        started = time.perf_counter()
        inputs = self._tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(self._device)
        usage.prompt_tokens = int(inputs["input_ids"].shape[-1])
        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs: dict[str, Any] = {
            **inputs,
            "max_new_tokens": max_tokens,
            "streamer": streamer,
            "pad_token_id": self._tokenizer.pad_token_id or self._tokenizer.eos_token_id,
            "repetition_penalty": REPEAT_PENALTY,
            "stop_strings": STOP_SEQUENCES,
            "tokenizer": self._tokenizer,
        }
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature)
        else:
            kwargs.update(do_sample=False)
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with self._torch.inference_mode():
                    output = self._model.generate(**kwargs)
                usage.completion_tokens = int(output.shape[-1]) - usage.prompt_tokens
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                errors.append(exc)
                streamer.end()  # type: ignore[no-untyped-call]

        thread = threading.Thread(target=run, name="transformers-generate", daemon=True)
        thread.start()
        for piece in streamer:
            if piece:
                if usage.ttft_s is None:
                    usage.ttft_s = time.perf_counter() - started
                yield piece
        thread.join()
        if errors:
            raise EngineError(f"generation failed: {errors[0]}") from errors[0]
