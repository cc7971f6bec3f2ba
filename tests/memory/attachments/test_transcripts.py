"""Voice notes are transcribed offline by the bundled Whisper tiny.en (faster-whisper), as
the background worker does: espeak-ng's speech, encoded as the widget's recorder sends it."""

from __future__ import annotations

import re

import numpy as np
import pytest

from memory.attachments.reading import transcribe

from . import files


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


@pytest.mark.parametrize(
    ("sentence", "key_words"),
    [
        ("I forgot my password and cannot log in to my account", {"forgot", "password", "account"}),
        (
            "I would like a refund for the payment I made yesterday, the order never arrived",
            {"refund", "payment", "yesterday", "order", "arrived"},
        ),
        ("Can you help me change the address on my card", {"help", "change", "address", "card"}),
    ],
)
def test_a_voice_notes_transcript_has_its_key_words(sentence: str, key_words: set[str]) -> None:
    heard = transcribe(files.voice_note(sentence))
    assert key_words <= words(heard), heard


def test_silence_and_noise_are_not_made_into_words() -> None:
    """Whisper invents a sentence for silence when nothing stops it ("Thank you.")."""
    rate = 48000
    silence = np.zeros(rate * 3, dtype=np.int16)
    hiss = (np.random.default_rng(0).standard_normal(rate * 3) * 300).astype(np.int16)
    assert transcribe(files.webm_opus(silence, rate)) == ""
    assert transcribe(files.webm_opus(hiss, rate)) == ""
