"""Model fixtures for the engine tests: tiny Qwen2, Qwen2-VL and Qwen2-Audio folders, and an
OpenAI-compatible server.

All are real: the models are randomly initialised (built here, no download) with the SmolLM2
tokenizer and its ChatML template (plus Qwen's image or audio placeholder tokens, and Qwen2-VL's
image processor or Whisper's feature extractor); the server is llama-cpp-python's own, serving
the bundled SmolLM2 on 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bots.engines.llamacpp import bundled_model_path
from tests.conftest import LOG_DIR, OPENAI_TEST_API_KEY, OPENAI_TEST_PORT


def build_tiny_qwen2(
    folder: Path, *, chat_template: bool = True, max_positions: int = 1024
) -> Path:
    """Save a 2-layer random Qwen2 and the SmolLM2 tokenizer (safetensors) into `folder`."""
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    gguf = bundled_model_path()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    if not chat_template:
        tokenizer.chat_template = None
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    Qwen2ForCausalLM(config).save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


# Qwen2-VL-Instruct's chat template (its video branch left out): an image is its placeholder.
QWEN2_VL_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
QWEN2_VL_TOKENS = ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]
QWEN2_AUDIO_TOKENS = ["<|AUDIO|>", "<|audio_bos|>", "<|audio_eos|>"]
TINY_TEXT = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
}


def _smollm2_tokenizer(special: list[str]) -> Any:
    from transformers import AutoTokenizer

    gguf = bundled_model_path()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer.add_special_tokens({"additional_special_tokens": special})
    return tokenizer


def build_tiny_qwen2_vl(folder: Path, *, version: str = "2", max_positions: int = 2048) -> Path:
    """A random Qwen2-VL, or Qwen2.5-VL with `version="2.5"` (a 1- or 2-block vision tower, 2
    text layers) with their real image processor and the SmolLM2 tokenizer with Qwen's vision
    tokens, saved into `folder`."""
    import torch
    from transformers import (
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
    )

    tokenizer = _smollm2_tokenizer(QWEN2_VL_TOKENS)
    tokenizer.chat_template = QWEN2_VL_TEMPLATE
    start, end, image, video = tokenizer.convert_tokens_to_ids(QWEN2_VL_TOKENS)
    torch.manual_seed(0)
    config_class: Any = Qwen2VLConfig
    model_class: Any = Qwen2VLForConditionalGeneration
    vision: dict[str, Any] = {"depth": 1, "embed_dim": 32, "hidden_size": 64, "num_heads": 2}
    if version == "2.5":  # windowed attention in all blocks but the last, as in the real one
        config_class, model_class = Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration
        vision = {
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": 64,
            "fullatt_block_indexes": [1],
        }
    config = config_class(
        text_config={
            **TINY_TEXT,
            "vocab_size": len(tokenizer),
            "max_position_embeddings": max_positions,
            # M-RoPE's temporal, height and width sections of the 16-wide heads' 8 frequencies.
            "rope_parameters": {"rope_type": "default", "mrope_section": [2, 3, 3]},
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
        },
        vision_config=vision,
        image_token_id=image,
        video_token_id=video,
        vision_start_token_id=start,
        vision_end_token_id=end,
        tie_word_embeddings=True,
    )
    model_class(config).save_pretrained(folder, safe_serialization=True)
    # The real model's processor settings (patch 14, merge 2, CLIP's mean and deviation).
    Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=28 * 28 * 1280).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_tiny_qwen2_audio(folder: Path, *, max_positions: int = 2048) -> Path:
    """A random Qwen2-Audio (a 1-layer Whisper-style encoder, 2 text layers) with Whisper's
    feature extractor (128 mel bins, 30 s) and the SmolLM2 tokenizer with Qwen's audio tokens,
    saved with Qwen2-Audio's processor (and its chat template) into `folder`."""
    import torch
    from transformers import (
        Qwen2AudioConfig,
        Qwen2AudioForConditionalGeneration,
        Qwen2AudioProcessor,
        WhisperFeatureExtractor,
    )

    tokenizer = _smollm2_tokenizer(QWEN2_AUDIO_TOKENS)
    torch.manual_seed(0)
    config = Qwen2AudioConfig(
        audio_config={
            "num_mel_bins": 128,
            "encoder_layers": 1,
            "encoder_attention_heads": 2,
            "encoder_ffn_dim": 64,
            "d_model": 32,
        },
        text_config={
            **TINY_TEXT,
            "model_type": "qwen2",
            "vocab_size": len(tokenizer),
            "max_position_embeddings": max_positions,
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "tie_word_embeddings": True,
        },
        audio_token_index=tokenizer.convert_tokens_to_ids("<|AUDIO|>"),
    )
    Qwen2AudioForConditionalGeneration(config).save_pretrained(folder, safe_serialization=True)
    extractor = WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, chunk_length=30)
    Qwen2AudioProcessor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_qwen2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2"))


@pytest.fixture(scope="session")
def openai_server() -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server with SmolLM2; yields its base URL (…/v1).

    Started through bots.engines.llamacpp_server: the same server, weight repacking off.
    """
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    log = open(LOG_DIR / "openai-server.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bots.engines.llamacpp_server",
            "--model",
            str(bundled_model_path()),
            "--host",
            "127.0.0.1",
            "--port",
            str(OPENAI_TEST_PORT),
            "--n_ctx",
            "2048",
            "--n_threads",
            "2",
            "--api_key",
            OPENAI_TEST_API_KEY,
            # Requests wait their turn instead of cutting the one streaming short (a real
            # batching server such as vLLM serves them at once): the engine's concurrent
            # streams each run to the end.
            "--interrupt_requests",
            "false",
        ],
        # Unbuffered: the server's "Disconnected from client" shows in its log at once.
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base_url = f"http://127.0.0.1:{OPENAI_TEST_PORT}/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(
                    f"{base_url}/models",
                    headers={"Authorization": f"Bearer {OPENAI_TEST_API_KEY}"},
                    timeout=2,
                )
                if response.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not start; see {log.name}")
            time.sleep(0.3)
        yield base_url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()
        log.close()
