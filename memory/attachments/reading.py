"""Reading text out of a stored attachment, on the CPU and offline: OCR of images
(RapidOCR's ONNX models, shipped in its package), the text layer of PDFs (the knowledge
base's extractor), plain text, and a transcript of audio (FFmpeg through PyAV to decode,
PocketSphinx's bundled English model to recognise).

The OCR, decoding and speech libraries are imported inside functions, once per worker
process: the web process never loads them.
"""

from __future__ import annotations

import functools
import io
from typing import Any

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


def decode_audio(data: bytes) -> Any:
    """Mono 16 kHz signed 16-bit samples (a numpy array) of any container FFmpeg reads."""
    import av
    import numpy as np

    chunks = []
    with av.open(io.BytesIO(data), mode="r") as container:
        if not container.streams.audio:
            raise ValueError("no audio stream")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)


@functools.cache
def _speech_decoder() -> Any:
    from pocketsphinx import Decoder

    return Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")


def transcribe(data: bytes) -> str:
    samples = decode_audio(data)
    if not len(samples):
        return ""
    decoder = _speech_decoder()
    decoder.start_utt()
    decoder.process_raw(samples.tobytes(), full_utt=True)
    decoder.end_utt()
    hypothesis = decoder.hyp()
    return str(hypothesis.hypstr).strip() if hypothesis else ""


READERS = {"image": text_of_image, "pdf": text_of_pdf, "text": text_of_text, "audio": transcribe}


def read_text(kind: str, data: bytes) -> str:
    return READERS[kind](data)
