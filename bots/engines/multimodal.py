"""The transformers engine's vision and audio models (Qwen2-VL, Qwen2.5-VL, Qwen2-Audio): which
folders are such models, their processors, a customer's image or voice note made into model
inputs under a cap, and the one-at-a-time generation their media requests take.

transformers' continuous batching (bots/engines/scheduler.py) takes token ids only: it has no
way to carry pixel values or audio features (5.24's `add_request(input_ids, …)`). So a request
with media runs a plain `generate` of its own, one at a time per model (`SerialGenerator`),
next to the shared batch, which still takes every text-only request to the same model.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import queue
import re
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import ChatMessage

log = logging.getLogger(__name__)

# config.json's model_type → (the transformers class, the media its towers take).
MEDIA_MODELS: dict[str, tuple[str, frozenset[str]]] = {
    "qwen2_vl": ("Qwen2VLForConditionalGeneration", frozenset({"image"})),
    "qwen2_5_vl": ("Qwen2_5_VLForConditionalGeneration", frozenset({"image"})),
    "qwen2_audio": ("Qwen2AudioForConditionalGeneration", frozenset({"audio"})),
}
# How often a request waiting for the model (or for a slow step) wakes up with nothing, as
# the scheduler's tickets do, so the caller renews its lease and keeps time.
WAKE_S = 1.0
AUDIO_MAX_S = 30  # Whisper's feature extractor's window: Qwen2-Audio hears no more


def model_type(folder: Path) -> str:
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    return str(config.get("model_type", "")) if isinstance(config, dict) else ""


def load_model_class(kind: str) -> Any:
    import transformers

    return getattr(transformers, MEDIA_MODELS[kind][0])


def load_processor(folder: Path, tokenizer: Any) -> Any:
    """The folder's processor (offline). Qwen2-VL's needs torchvision for its video processor,
    which a CPU install may lack: then the same inputs from the folder's image processor and
    tokenizer (`ImageTextProcessor`)."""
    from transformers import AutoImageProcessor, AutoProcessor

    try:
        return AutoProcessor.from_pretrained(  # type: ignore[no-untyped-call]
            str(folder), local_files_only=True
        )
    except ImportError as exc:
        reason = (str(exc).strip().splitlines() or ["ImportError"])[0]
        log.warning("%s: %s; using its image processor and tokenizer", folder.name, reason)
        image_processor = AutoImageProcessor.from_pretrained(  # type: ignore[no-untyped-call]
            str(folder), local_files_only=True
        )
        return ImageTextProcessor(image_processor, tokenizer)


class ImageTextProcessor:
    """What Qwen2-VL's processor does for images: each `<|image_pad|>` widened to the image's
    merged patches, and the token types that place them (M-RoPE)."""

    image_token = "<|image_pad|>"  # noqa: S105 - a placeholder token, not a secret

    def __init__(self, image_processor: Any, tokenizer: Any) -> None:
        self.image_processor = image_processor
        self.tokenizer = tokenizer
        self.chat_template = getattr(tokenizer, "chat_template", None)
        self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)

    def __call__(
        self, *, text: list[str], images: list[Any], return_tensors: str = "pt", **kwargs: Any
    ) -> dict[str, Any]:
        features = dict(
            self.image_processor(images=images, return_tensors=return_tensors, **kwargs)
        )
        merge = int(self.image_processor.merge_size) ** 2
        counts = iter([int(grid.prod()) // merge for grid in features["image_grid_thw"]])
        widened = re.sub(
            re.escape(self.image_token), lambda _: self.image_token * next(counts), text[0]
        )
        encoded = dict(
            self.tokenizer([widened], return_tensors=return_tensors, add_special_tokens=False)
        )
        encoded["mm_token_type_ids"] = (encoded["input_ids"] == self.image_token_id).int()
        return {**encoded, **features}


def media_conversation(
    messages: list[ChatMessage], kinds: frozenset[str], *, max_pixels: int, sample_rate: int
) -> tuple[list[dict[str, Any]], list[Any]]:
    """The messages as a multimodal chat template reads them (a message's media first, in the
    template's own placeholders, then its text), and the media decoded in that order.

    Images become RGB pictures of at most 4 times `max_pixels` (the processor resizes the rest of
    the way), audio float samples at the feature extractor's rate, cut to AUDIO_MAX_S. A file
    that does not decode is left out (its OCR text or transcript is still in the text).
    """
    conversation: list[dict[str, Any]] = []
    decoded: list[Any] = []
    for message in messages:
        parts: list[dict[str, Any]] = []
        for item in message.get("media", ()):
            if item["kind"] not in kinds:
                continue
            try:
                if item["kind"] == "image":
                    decoded.append(_picture(item["data"], max_pixels))
                else:
                    decoded.append(_samples(item["data"], sample_rate))
            except Exception as exc:  # noqa: BLE001 - one bad file must not cost the reply
                log.warning("attachment %r left out of the model's input: %s", item["name"], exc)
                continue
            parts.append({"type": item["kind"]})
        if parts:
            parts.append({"type": "text", "text": message["content"]})
            conversation.append({"role": message["role"], "content": parts})
        else:
            conversation.append({"role": message["role"], "content": message["content"]})
    return conversation, decoded


def _picture(data: bytes, max_pixels: int) -> Any:
    from PIL import Image

    picture = Image.open(io.BytesIO(data))
    # Stored uploads are at most SWITCHBOARD_ATTACHMENT_MAX_PIXELS (40 MP): shrink before the
    # processor turns them into float arrays.
    budget = max_pixels * 4
    if picture.width * picture.height > budget:
        scale = (budget / (picture.width * picture.height)) ** 0.5
        size = (max(1, int(picture.width * scale)), max(1, int(picture.height * scale)))
        picture.draft("RGB", size)
        picture.thumbnail(size)
    return picture.convert("RGB")


def _samples(data: bytes, sample_rate: int) -> Any:
    from memory.attachments.reading import decode_audio

    pcm = decode_audio(data, rate=sample_rate, max_seconds=AUDIO_MAX_S)
    return pcm.astype("float32") / 32768.0


@dataclass
class _Run:
    cancelled: threading.Event
    outputs: queue.Queue[Any]
    submitted: float
    admitted: float | None = None


class SerialGenerator:
    """`model.generate` for one request at a time (a lock per model), streamed token by token
    from its own thread: None every WAKE_S while waiting, cancelled by a stopping criterion."""

    def __init__(self, model: Any, generation_config: Any, name: str) -> None:
        self._model = model
        self._generation_config = generation_config
        self._lock = threading.Lock()
        self.name = name

    def tokens(
        self, inputs: dict[str, Any], *, max_new_tokens: int, waited: list[float]
    ) -> Generator[list[int] | None]:
        """Yield the generated ids so far after each step; closing this generator stops the
        generation at its next step. `waited` gets the seconds spent waiting for the model."""
        run = _Run(threading.Event(), queue.Queue(), time.perf_counter())
        thread = threading.Thread(
            target=self._generate,
            args=(run, inputs, max_new_tokens),
            name=f"media-generate-{self.name}",
            daemon=True,
        )
        thread.start()
        try:
            while True:
                try:
                    item = run.outputs.get(timeout=WAKE_S)
                except queue.Empty:
                    waited[:] = [_waited(run)]
                    yield None
                    continue
                waited[:] = [_waited(run)]
                if isinstance(item, BaseException):
                    raise item
                if item is _DONE:
                    return
                yield item
        finally:
            run.cancelled.set()

    def _generate(self, run: _Run, inputs: dict[str, Any], max_new_tokens: int) -> None:
        import torch
        from transformers import StoppingCriteria, StoppingCriteriaList
        from transformers.generation.streamers import BaseStreamer

        class Cancelled(StoppingCriteria):
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                done = run.cancelled.is_set()
                return torch.full((input_ids.shape[0],), done, dtype=torch.bool)

        class Tokens(BaseStreamer):
            def __init__(self) -> None:
                self.ids: list[int] = []
                self.prompt_seen = False

            def put(self, value: Any) -> None:
                if not self.prompt_seen:  # generate hands the prompt over first
                    self.prompt_seen = True
                    return
                self.ids.extend(int(i) for i in value.reshape(-1).tolist())
                run.outputs.put(list(self.ids))

            def end(self) -> None:
                run.outputs.put(_DONE)

        with self._lock:
            run.admitted = time.perf_counter()
            if run.cancelled.is_set():
                run.outputs.put(_DONE)
                return
            try:
                device = self._model.device
                on_device = {k: v.to(device) if hasattr(v, "to") else v for k, v in inputs.items()}
                if "pixel_values" in on_device:
                    on_device["pixel_values"] = on_device["pixel_values"].to(self._model.dtype)
                if "input_features" in on_device:
                    on_device["input_features"] = on_device["input_features"].to(self._model.dtype)
                config = copy.deepcopy(self._generation_config)
                config.max_new_tokens = max_new_tokens
                with torch.inference_mode():
                    self._model.generate(
                        **on_device,
                        generation_config=config,
                        streamer=Tokens(),
                        stopping_criteria=StoppingCriteriaList([Cancelled()]),
                    )
            except Exception as exc:  # noqa: BLE001 - raised in the request's own stream
                run.outputs.put(exc)


_DONE = object()


def _waited(run: _Run) -> float:
    end = run.admitted if run.admitted is not None else time.perf_counter()
    return max(0.0, end - run.submitted)
