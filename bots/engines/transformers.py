"""transformers: any Hugging Face model folder (Qwen2-*-Instruct in production), GPU if any.

Every reply the worker generates with one loaded model goes through that model's one
`GenerationScheduler` (bots/engines/scheduler.py, transformers' continuous batching): the
conversations in flight share each forward pass, each streams its own tokens, and a reply
that stops early (a takeover, the time limit, the guard, a stop sequence) leaves the batch at
the next step. The library applies one sampling configuration to every request in the batch
(SWITCHBOARD_LLM_TEMPERATURE, greedy by default; a bot's own temperature is not applied),
and it drops the repetition penalty (bots.grounding cuts loops instead).

Vision and audio models (a Qwen2-VL, Qwen2.5-VL or Qwen2-Audio folder: bots/engines/multimodal.py)
also get the customer's images or voice note of the message being answered. The shared batch
takes token ids only, so such a request runs a plain `generate` of its own, one at a time per
model, beside the batch (which still serves every text-only request, to that model too).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import multimodal
from .base import STOP_SEQUENCES, ChatMessage, Engine, EngineError, Usage
from .scheduler import GenerationScheduler, SchedulerError

log = logging.getLogger(__name__)

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
        image_max_pixels: int = 1280 * 28 * 28,
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
        kind = multimodal.model_type(path)
        model_class: Any = AutoModelForCausalLM
        if kind in multimodal.MEDIA_MODELS:
            model_class = multimodal.load_model_class(kind)
            self.media_kinds = multimodal.MEDIA_MODELS[kind][1]
        # Offline and safe formats only: never a hub download, never a pickle.
        self._tokenizer: Any = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        self._processor: Any = None
        if self.media_kinds:
            self._processor = multimodal.load_processor(path, self._tokenizer)
            self._tokenizer = self._processor.tokenizer
            if not getattr(self._tokenizer, "chat_template", None):
                self._tokenizer.chat_template = getattr(self._processor, "chat_template", None)
        if not getattr(self._tokenizer, "chat_template", None):
            raise EngineError(f"{model!r} has no chat template", permanent=True)
        self._image_max_pixels = image_max_pixels
        dtype = torch.bfloat16 if device == "cuda" else torch.float32
        loaded: Any = model_class.from_pretrained(
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
            int(
                getattr(
                    self._model.config.get_text_config(),
                    "max_position_embeddings",
                    context_tokens,
                )
            ),
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
        # A request with media cannot join the batch (it carries more than token ids).
        self._serial = multimodal.SerialGenerator(self._model, generation, self.model_name)
        if warm_up:
            self.scheduler.warm_up()

    def close(self) -> None:
        self.scheduler.close()

    def count_tokens(self, text: str) -> int:
        return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])

    def prompt_ids(self, messages: list[ChatMessage]) -> list[int]:
        # Role and text only: a message's media are for `media_inputs`.
        text_only = [{"role": m["role"], "content": m["content"]} for m in messages]
        rendered: Any = self._tokenizer.apply_chat_template(
            text_only, add_generation_prompt=True, tokenize=True, return_dict=True
        )
        return list(rendered["input_ids"])

    def media_inputs(self, messages: list[ChatMessage], max_tokens: int) -> dict[str, Any] | None:
        """The model's inputs with the messages' images or audio (the processor's placeholders
        widened, pixel values or audio features beside them), or None when there are none it
        takes, or when with them the prompt leaves no room for the reply in the context (the
        text read from the files is still in the messages)."""
        if not self.media_kinds or not any(m.get("media") for m in messages):
            return None
        extractor = getattr(self._processor, "feature_extractor", None)
        sample_rate = int(getattr(extractor, "sampling_rate", 16000))
        conversation, decoded = multimodal.media_conversation(
            messages, self.media_kinds, max_pixels=self._image_max_pixels, sample_rate=sample_rate
        )
        if not decoded:
            return None
        text = self._tokenizer.apply_chat_template(
            conversation, add_generation_prompt=True, tokenize=False
        )
        options: dict[str, Any]
        if "image" in self.media_kinds:
            size = {"shortest_edge": 56 * 56, "longest_edge": self._image_max_pixels}
            options = {"images": decoded, "size": size}
        else:
            options = {"audio": decoded, "sampling_rate": sample_rate}
        inputs: dict[str, Any] = dict(self._processor(text=[text], return_tensors="pt", **options))
        length = int(inputs["input_ids"].shape[-1])
        if length + max_tokens > self.context_tokens:
            log.warning(
                "%s: %d prompt tokens with the media leave no room for %d in a %d context;"
                " answering from the text read from them",
                self.model_name,
                length,
                max_tokens,
                self.context_tokens,
            )
            return None
        return inputs

    def stream(
        self, messages: list[ChatMessage], *, max_tokens: int, temperature: float, usage: Usage
    ) -> Iterator[str]:
        """Yield text pieces as the shared batch produces them; "" about once a second while
        none comes (waiting for a slot), so the caller can renew its lease and keep time.
        Closing the generator cancels the request (its slot goes to the next in line)."""
        started = time.perf_counter()
        try:
            inputs = self.media_inputs(messages, max_tokens)
        except Exception:  # the text read from the files still answers
            log.exception("%s: the media could not be made into inputs", self.model_name)
            inputs = None
        if inputs is not None:
            yield from self._stream_with_media(inputs, max_tokens, usage, started)
            return
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
        try:
            yield from self._pieces(ticket.tokens(), usage, started, lambda: ticket.queue_wait_s)
        except SchedulerError as exc:
            raise EngineError(str(exc)) from exc
        finally:
            ticket.cancel()  # a no-op once finished; frees the slot when stopped early

    def _stream_with_media(
        self, inputs: dict[str, Any], max_tokens: int, usage: Usage, started: float
    ) -> Iterator[str]:
        """The same stream from a `generate` of its own, after the model's other media
        requests (its wait is `queue_wait_s`); closing it stops the generation."""
        usage.prompt_tokens = int(inputs["input_ids"].shape[-1])
        waited = [0.0]
        steps = self._serial.tokens(inputs, max_new_tokens=max_tokens, waited=waited)
        try:
            yield from self._pieces(steps, usage, started, lambda: waited[0])
        except EngineError:
            raise
        except Exception as exc:
            raise EngineError(f"generation failed: {exc}") from exc
        finally:
            steps.close()

    def _pieces(
        self,
        steps: Iterator[list[int] | None],
        usage: Usage,
        started: float,
        queue_wait_s: Callable[[], float],
    ) -> Iterator[str]:
        """Text pieces from the generated ids after each step (None: "", still waiting), cut
        at the first stop sequence."""
        sent = ""
        for tokens in steps:
            usage.queue_wait_s = queue_wait_s()
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


def _stop_at(text: str) -> int | None:
    found = [i for i in (text.find(s) for s in STOP_SEQUENCES) if i >= 0]
    return min(found) if found else None
