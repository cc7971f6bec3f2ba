"""Vision and audio models on the transformers engine (issue #15): a customer's image reaches a
Qwen2-VL's vision tower, a voice note a Qwen2-Audio's audio tower, and the reply streams as any
other. The models are tiny random ones of those architectures, built here (tests/bots/conftest.py)
with Qwen2-VL's real image processor and Whisper's feature extractor; no download.
"""

from __future__ import annotations

import contextlib
import io
import math
import time
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image
from pytest_django.fixtures import Settings as SettingsWrapper

from bots.engines import ChatMessage, Engine, Media, Usage, get_engine
from bots.services import generate_reply
from desk.intake import accept_customer_message
from memory.attachments.reading import decode_audio
from memory.attachments.services import store_upload
from memory.conversations.models import Attachment, Message
from memory.conversations.services import open_conversation
from tests.bots.conftest import build_tiny_qwen2_audio, build_tiny_qwen2_vl
from tests.conftest import make_bot, new_visitor_id

SYSTEM: ChatMessage = {"role": "system", "content": "You are a support assistant."}


@pytest.fixture(scope="module")
def tiny_vl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen2_vl(tmp_path_factory.mktemp("tiny-qwen2-vl"))


@pytest.fixture(scope="module")
def tiny_audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen2_audio(tmp_path_factory.mktemp("tiny-qwen2-audio"))


def png(size: tuple[int, int], colour: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    image = Image.new("RGB", size, colour)
    for x in range(0, size[0], 7):  # some structure, so that the patches differ
        image.putpixel((x, x * size[1] // size[0]), (0, 0, 0))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def wav(seconds: float, rate: int = 16000) -> bytes:
    """A 440 Hz tone, mono 16-bit."""
    frames = b"".join(
        int(8000 * math.sin(2 * math.pi * 440 * n / rate)).to_bytes(2, "little", signed=True)
        for n in range(int(seconds * rate))
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(rate)
        sound.writeframes(frames)
    return out.getvalue()


def asking(text: str, *media: Media) -> list[ChatMessage]:
    question: ChatMessage = {"role": "user", "content": text}
    if media:
        question["media"] = list(media)
    return [SYSTEM, question]


def image(data: bytes, name: str = "screen.png") -> Media:
    return {"kind": "image", "data": data, "name": name}


@contextlib.contextmanager
def seen_by(module: torch.nn.Module) -> Iterator[list[tuple[Any, dict[str, Any]]]]:
    """Each call's positional and keyword arguments, while the context is open."""
    calls: list[tuple[Any, dict[str, Any]]] = []
    handle = module.register_forward_hook(
        lambda _m, args, kwargs, _out: calls.append((args, kwargs)), with_kwargs=True
    )
    try:
        yield calls
    finally:
        handle.remove()


def stream(engine: Engine, messages: list[ChatMessage], max_tokens: int) -> tuple[str, Usage]:
    usage = Usage()
    text = "".join(engine.stream(messages, max_tokens=max_tokens, temperature=0.0, usage=usage))
    return text, usage


def expected_pixels(folder: Path, data: bytes, max_pixels: int) -> dict[str, Any]:
    from transformers import AutoImageProcessor

    processor = AutoImageProcessor.from_pretrained(str(folder), local_files_only=True)
    picture = Image.open(io.BytesIO(data)).convert("RGB")
    size = {"shortest_edge": 56 * 56, "longest_edge": max_pixels}
    return dict(processor(images=[picture], size=size, return_tensors="pt"))


# Qwen2-VL


def test_an_image_given_to_a_qwen2_vl_engine_reaches_its_vision_tower(tiny_vl: Path) -> None:
    engine = get_engine("transformers", str(tiny_vl))
    assert engine.media_kinds == frozenset({"image"})
    shot = png((224, 168))
    text_only, text_usage = stream(engine, asking("What does this error mean?"), 8)

    with seen_by(engine._model.model.visual) as calls:  # type: ignore[attr-defined]
        reply, usage = stream(engine, asking("What does this error mean?", image(shot)), 8)

    expected = expected_pixels(tiny_vl, shot, 1280 * 28 * 28)
    assert len(calls) == 1, "one image, one pass of the vision tower"
    args, kwargs = calls[0]
    assert torch.equal(args[0], expected["pixel_values"]), "the image's own pixels"
    assert torch.equal(kwargs["grid_thw"], expected["image_grid_thw"])
    assert expected["image_grid_thw"].tolist() == [[1, 12, 16]]  # 168 x 224 in 14-pixel patches
    # Its 12 x 16 patches, merged 2 x 2, are 48 placeholders in the prompt (plus start and end).
    assert usage.prompt_tokens == text_usage.prompt_tokens + 48 + 2
    assert reply and text_only
    assert 1 <= usage.completion_tokens <= 8 and usage.ttft_s is not None


def test_a_qwen2_5_vl_folder_takes_images_too(tmp_path: Path) -> None:
    folder = build_tiny_qwen2_vl(tmp_path / "tiny-qwen2.5-vl", version="2.5")
    engine = get_engine("transformers", str(folder))
    assert type(engine._model).__name__ == "Qwen2_5_VLForConditionalGeneration"  # type: ignore[attr-defined]
    assert engine.media_kinds == frozenset({"image"})
    shot = png((224, 168))

    with seen_by(engine._model.model.visual) as calls:  # type: ignore[attr-defined]
        reply, _ = stream(engine, asking("What is this?", image(shot)), 6)
    assert reply and len(calls) == 1
    assert torch.equal(
        calls[0][0][0], expected_pixels(folder, shot, 1280 * 28 * 28)["pixel_values"]
    )
    assert stream(engine, asking("Where is my card?"), 6)[0]
    assert engine.scheduler.depth().served == 1  # type: ignore[attr-defined]


def test_a_large_image_is_resized_to_the_engines_pixel_budget(tiny_vl: Path) -> None:
    from bots.engines.transformers import TransformersEngine

    budget = 28 * 28 * 16  # at most 16 visual tokens
    engine = TransformersEngine(str(tiny_vl), device="cpu", slots=2, image_max_pixels=budget)
    try:
        with seen_by(engine._model.model.visual) as calls:
            stream(engine, asking("And this one?", image(png((1920, 1080)))), 4)
        grid = calls[0][1]["grid_thw"]
        assert grid.tolist() == [[1, 6, 10]]  # 84 x 140 pixels: 1080p cut to the budget
        assert int(grid.prod()) * 14 * 14 <= budget
    finally:
        engine.close()


def test_text_only_requests_to_a_qwen2_vl_engine_take_the_shared_batch_and_media_do_not(
    tiny_vl: Path,
) -> None:
    engine = get_engine("transformers", str(tiny_vl))
    served = engine.scheduler.depth().served  # type: ignore[attr-defined]

    text, _ = stream(engine, asking("Where is my card?"), 6)
    assert text and engine.scheduler.depth().served == served + 1  # type: ignore[attr-defined]

    text, _ = stream(engine, asking("Where is my card?", image(png((56, 56)))), 6)
    assert text and engine.scheduler.depth().served == served + 1  # type: ignore[attr-defined]


def test_a_media_request_waits_for_the_model_with_a_heartbeat_then_streams(tiny_vl: Path) -> None:
    engine = get_engine("transformers", str(tiny_vl))
    usage = Usage()
    pieces = engine.stream(
        asking("Hello", image(png((56, 56)))), max_tokens=6, temperature=0.0, usage=usage
    )
    serial = engine._serial  # type: ignore[attr-defined]
    with serial._lock:  # another media request holds the model
        assert next(pieces) == "", "a heartbeat about once a second while it waits"
    rest = list(pieces)
    assert "".join(rest) and usage.queue_wait_s >= 0.9
    assert usage.completion_tokens >= 1


def test_closing_a_media_stream_stops_its_generation(tiny_vl: Path) -> None:
    engine = get_engine("transformers", str(tiny_vl))
    messages = asking("Tell me everything", image(png((56, 56))))
    # The same greedy request, run to its end, fills its whole budget (no early end of turn).
    _, whole = stream(engine, messages, 300)
    assert whole.completion_tokens == 300

    language_model = engine._model.model.language_model  # type: ignore[attr-defined]
    with seen_by(language_model) as steps:
        pieces = engine.stream(messages, max_tokens=300, temperature=0.0, usage=Usage())
        assert next(piece for piece in pieces if piece)
        pieces.close()
        time.sleep(0.5)
        after_close = len(steps)
        time.sleep(0.5)
        assert len(steps) == after_close, "no step after the stream was closed"
    assert after_close < 300
    # The model is free again: the next media request streams at once.
    assert stream(engine, messages, 4)[0]


# Qwen2-Audio


def test_a_voice_note_given_to_a_qwen2_audio_engine_reaches_its_audio_tower_cut_to_30_s(
    tiny_audio: Path,
) -> None:
    engine = get_engine("transformers", str(tiny_audio))
    assert engine.media_kinds == frozenset({"audio"})
    note: Media = {"kind": "audio", "data": wav(40), "name": "voice.wav"}
    _, text_usage = stream(engine, asking("Listen"), 6)

    tower = engine._model.model.audio_tower  # type: ignore[attr-defined]
    with seen_by(tower) as calls:
        reply, usage = stream(engine, asking("Listen", note), 6)

    extractor = engine._processor.feature_extractor  # type: ignore[attr-defined]
    samples = decode_audio(note["data"]).astype("float32") / 32768.0
    assert len(samples) == 40 * 16000
    first_30_s = extractor(
        samples[: 30 * 16000], sampling_rate=16000, padding="max_length", return_tensors="pt"
    )["input_features"]
    assert len(calls) == 1
    args, kwargs = calls[0]
    heard = args[0] if args else kwargs["input_features"]
    assert torch.allclose(heard, first_30_s), "the note's first 30 s, as Whisper's features"
    # 30 s of 10 ms frames, halved twice by the encoder: 750 audio placeholders (plus the
    # template's "Audio 1: <|audio_bos|>…<|audio_eos|>").
    assert 750 < usage.prompt_tokens - text_usage.prompt_tokens < 770
    assert reply and usage.completion_tokens >= 1


# Engines that take no media


def test_a_text_only_qwen2_engine_ignores_media(tiny_qwen2: Path) -> None:
    engine = get_engine("transformers", str(tiny_qwen2))
    assert engine.media_kinds == frozenset()

    plain = stream(engine, asking("Where is my card?"), 8)
    given = stream(engine, asking("Where is my card?", image(png((56, 56)))), 8)
    assert given[0] == plain[0] and given[1].prompt_tokens == plain[1].prompt_tokens


# Through the reply path


@pytest.mark.django_db
def test_a_customers_stored_image_reaches_the_vision_tower_through_the_reply_path(
    tiny_vl: Path, settings: SettingsWrapper
) -> None:
    settings.MODELS = {"tiny-vl": {"engine": "transformers", "model": str(tiny_vl)}}
    bot = make_bot(engine="transformers", model=str(tiny_vl), max_tokens=8)
    conversation = open_conversation(bot, new_visitor_id())
    shot = png((224, 168), (20, 120, 200))
    upload = store_upload(conversation, shot, "screenshot.png")
    question, _ = accept_customer_message(conversation, "c1", "What is this?", [upload.pk])
    # What the background worker's OCR would have left (not run here: the point is the image).
    Attachment.objects.filter(pk=upload.pk).update(status="done", text="Error 0x45")

    engine = get_engine("transformers", str(tiny_vl))
    with seen_by(engine._model.model.visual) as calls:  # type: ignore[attr-defined]
        assert generate_reply(question.pk) is None

    stored = Attachment.objects.get(pk=upload.pk)
    expected = expected_pixels(tiny_vl, shot, 1280 * 28 * 28)
    assert len(calls) == 1
    assert torch.equal(calls[0][0][0], expected["pixel_values"]), "the stored file's pixels"
    assert stored.message_id == question.pk
    reply = Message.objects.get(reply_to=question)
    assert reply.status in ("final", "failed") and reply.prompt_tokens > 48
