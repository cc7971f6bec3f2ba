"""Model fixtures for the engine tests: a tiny Qwen2 folder and an OpenAI-compatible server.

Both are real: the Qwen2 model is randomly initialised (built here, no download) with the
SmolLM2 tokenizer and its ChatML template; the server is llama-cpp-python's own, serving the
bundled SmolLM2 on 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

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
