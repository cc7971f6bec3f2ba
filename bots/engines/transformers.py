"""transformers: any Hugging Face model folder (Qwen2-*-Instruct in production), GPU if any.

Every reply the worker generates with one loaded model goes through that model's one
`GenerationScheduler` (bots/engines/scheduler.py, transformers' continuous batching): the
conversations in flight share each forward pass, each streams its own tokens, and a reply
that stops early (a takeover, the time limit, the guard, a stop sequence) leaves the batch at
the next step. The library applies one sampling configuration to every request in the batch
(SWITCHBOARD_LLM_TEMPERATURE, greedy by default; a bot's own temperature is not applied),
and it drops the repetition penalty (bots.grounding cuts loops instead).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .base import STOP_SEQUENCES, ChatMessage, Engine, EngineError, Usage
from .scheduler import GenerationScheduler, SchedulerError

# Fault injection (SWITCHBOARD_FAULT_INJECTION only): a customer message containing this
# makes the scheduler fail that one request after a few tokens, as a library error would.
FAULT_MARKER = "[[fault:engine-error]]"
FAULT_AFTER_TOKENS = 3


class TransformersEngine(Engine):
    name = "transformers"

    def __init__(
        self,
        model: str,
        *,
        context_tokens: int = 4096,
        device: str = "auto",
        slots: int = 64,
        kv_blocks: int | None = None,
        max_batch_tokens: int | None = None,
        warm_up: bool = False,
        compile_level: int = 0,
        fault_injection: bool = False,
        temperature: float = 0.0,
    ) -> None:
        path = Path(model)
        if not model or not (path / "config.json").is_file():
            raise EngineError(
                f"transformers needs a local model folder with config.json, not {model!r}",
                permanent=True,
            )
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self._device = device
        # Offline and safe formats only: never a hub download, never a pickle.
        self._tokenizer: Any = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        if not getattr(self._tokenizer, "chat_template", None):
            raise EngineError(f"{model!r} has no chat template", permanent=True)
        dtype = torch.bfloat16 if device == "cuda" else torch.float32
        loaded: Any = AutoModelForCausalLM.from_pretrained(
            str(path),
            local_files_only=True,
            use_safetensors=True,
            dtype=dtype,
            attn_implementation="sdpa",
        )
        self._model: Any = loaded.to(device)
        self._model.eval()
        self.model_name = path.name
        self.parameters = int(sum(p.numel() for p in self._model.parameters()))
        self.context_tokens = min(
            context_tokens,
            int(getattr(self._model.config, "max_position_embeddings", context_tokens)),
        )
        eos = self._tokenizer.eos_token_id
        sampling: dict[str, Any] = {"do_sample": False}
        if temperature > 0:
            sampling = {"do_sample": True, "temperature": temperature, "top_k": 0, "top_p": 1.0}
        generation = GenerationConfig(  # type: ignore[no-untyped-call]
            **sampling,
            eos_token_id=eos,
            pad_token_id=self._tokenizer.pad_token_id or eos,
            max_new_tokens=256,
        )
        self._fault_injection = fault_injection
        if device == "cpu":
            # The library sizes an unset cache from free memory, which on a CPU is gigabytes
            # of RAM that every step then attends over: a few blocks per slot instead.
            kv_blocks = kv_blocks or max(16, 4 * slots)
            max_batch_tokens = max_batch_tokens or 1024
        self.scheduler = GenerationScheduler(
            self._model,
            generation,
            slots=slots,
            num_blocks=kv_blocks,
            max_batch_tokens=max_batch_tokens,
            compile_level=compile_level,
            name=self.model_name,
        )
        if warm_up:
            self.scheduler.warm_up()

    def close(self) -> None:
        self.scheduler.close()

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt_ids(self, messages: list[ChatMessage]) -> list[int]:
        rendered: Any = self._tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, tokenize=True, return_dict=True
        )
        return list(rendered["input_ids"])

    def stream(
        self, messages: list[ChatMessage], *, max_tokens: int, temperature: float, usage: Usage
    ) -> Iterator[str]:
        """Yield text pieces as the shared batch produces them; "" about once a second while
        none comes (waiting for a slot), so the caller can renew its lease and keep time.
        Closing the generator cancels the request (its slot goes to the next in line)."""
        started = time.perf_counter()
        ids = self.prompt_ids(messages)
        usage.prompt_tokens = len(ids)
        fail_after = None
        if self._fault_injection and any(FAULT_MARKER in m["content"] for m in messages):
            fail_after = FAULT_AFTER_TOKENS
        try:
            ticket = self.scheduler.submit(
                ids, max_new_tokens=max_tokens, fail_after_tokens=fail_after
            )
        except SchedulerError as exc:
            raise EngineError(str(exc)) from exc
        sent = ""
        try:
            for tokens in ticket.tokens():
                usage.queue_wait_s = ticket.queue_wait_s
                if tokens is None:
                    yield ""
                    continue
                usage.completion_tokens = len(tokens)
                text = self._tokenizer.decode(tokens, skip_special_tokens=True)
                stop = _stop_at(text)
                if stop is not None:
                    text = text[:stop]
                elif text.endswith("\ufffd"):  # half a character: wait for the next token
                    continue
                if len(text) > len(sent):
                    if usage.ttft_s is None:
                        usage.ttft_s = time.perf_counter() - started
                    piece, sent = text[len(sent) :], text
                    yield piece
                if stop is not None:
                    return
        except SchedulerError as exc:
            raise EngineError(str(exc)) from exc
        finally:
            ticket.cancel()  # a no-op once finished; frees the slot when stopped early


def _stop_at(text: str) -> int | None:
    found = [i for i in (text.find(s) for s in STOP_SEQUENCES) if i >= 0]
    return min(found) if found else None
