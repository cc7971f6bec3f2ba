"""The topic classifier, as plain arrays: logistic regression on unit MiniLM embeddings, blended
with a similarity-weighted vote of the nearest examples. Production (per bot) and the bench
(`python -m bench.topics`) both call `fit` and `classify` here, with the same settings.

No Django here; scikit-learn is imported only to train.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float32]

# Chosen by 4-fold cross-validation on BANKING77's train split (docs/topics.md), never on test.
C = 30.0
NEIGHBOURS = 10
TEMPERATURE = 0.05
NEIGHBOUR_WEIGHT = 0.5
METHOD = f"logreg(C={C:g})+{NEIGHBOURS}nn(T={TEMPERATURE:g},w={NEIGHBOUR_WEIGHT:g})"


def name_as_example(name: str) -> str:
    """A topic's name read as an utterance ("card_arrival" -> "card arrival").

    Every topic gets it as one more example: with few examples it adds +0.4-0.6 points on
    BANKING77 (10 per intent, validated on held-out train data), with many it changes nothing.
    """
    return re.sub(r"[_\-\s]+", " ", name).strip()


@dataclass(frozen=True)
class LinearModel:
    """Softmax over `topic_names`: logits = embeddings @ weights.T + bias."""

    topic_names: list[str]
    weights: Array  # (topics, dimensions)
    bias: Array  # (topics,)


@dataclass(frozen=True)
class Label:
    topic: str
    confidence: float


def fit(embeddings: Array, labels: Sequence[str]) -> LinearModel:
    """Train on unit-length example embeddings and their topic names (deterministic)."""
    names = sorted(set(labels))
    dimensions = embeddings.shape[1]
    if len(names) < 2:
        # One topic: nothing to separate; it always wins, and the vote sets the confidence.
        return LinearModel(
            names, np.zeros((len(names), dimensions), np.float32), np.zeros(len(names), np.float32)
        )
    from sklearn.linear_model import LogisticRegression

    index = {name: i for i, name in enumerate(names)}
    y = np.array([index[label] for label in labels])
    model = LogisticRegression(C=C, max_iter=3000).fit(embeddings, y)
    weights = np.asarray(model.coef_, dtype=np.float32)
    bias = np.asarray(model.intercept_, dtype=np.float32)
    if len(names) == 2:
        # Binary models keep one row for class 1; as a softmax, class 0 gets zeros.
        weights = np.vstack([np.zeros_like(weights), weights])
        bias = np.concatenate([np.zeros(1, np.float32), bias])
    return LinearModel(names, weights, bias)


def linear_probabilities(model: LinearModel, embeddings: Array) -> npt.NDArray[np.float64]:
    logits = embeddings.astype(np.float64) @ model.weights.T.astype(np.float64) + model.bias
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return np.asarray(exp / exp.sum(axis=1, keepdims=True))


def neighbour_probabilities(
    topic_names: Sequence[str],
    similarities: Sequence[Sequence[float]],
    neighbour_topics: Sequence[Sequence[str]],
) -> npt.NDArray[np.float64]:
    """A vote of each query's nearest examples, weighted by exp((cosine - 1) / T)."""
    index = {name: i for i, name in enumerate(topic_names)}
    votes = np.zeros((len(similarities), len(topic_names)))
    for row, (sims, topics) in enumerate(zip(similarities, neighbour_topics, strict=True)):
        for sim, topic in zip(sims[:NEIGHBOURS], topics[:NEIGHBOURS], strict=True):
            if topic in index:
                votes[row, index[topic]] += np.exp((sim - 1.0) / TEMPERATURE)
    totals = votes.sum(axis=1, keepdims=True)
    shares: npt.NDArray[np.float64] = np.divide(
        votes, totals, out=np.zeros_like(votes), where=totals > 0
    )
    return shares


def classify(
    model: LinearModel | None,
    embeddings: Array,
    similarities: Sequence[Sequence[float]],
    neighbour_topics: Sequence[Sequence[str]],
) -> list[Label | None]:
    """One label per query. Without a (current) model, the neighbours' vote alone decides."""
    if model is None:
        names = sorted({topic for topics in neighbour_topics for topic in topics})
        probabilities = neighbour_probabilities(names, similarities, neighbour_topics)
    else:
        names = model.topic_names
        votes = neighbour_probabilities(names, similarities, neighbour_topics)
        linear = linear_probabilities(model, embeddings)
        has_votes = votes.sum(axis=1, keepdims=True) > 0
        blended = (1 - NEIGHBOUR_WEIGHT) * linear + NEIGHBOUR_WEIGHT * votes
        probabilities = np.where(has_votes, blended, linear)
    labels: list[Label | None] = []
    for row in probabilities:
        if not names or row.sum() <= 0:
            labels.append(None)
            continue
        best = int(row.argmax())
        labels.append(Label(names[best], round(float(row[best]), 4)))
    return labels


def nearest(
    examples: Array, example_topics: Sequence[str], queries: Array, k: int = NEIGHBOURS
) -> tuple[list[list[float]], list[list[str]]]:
    """Exact cosine neighbours in memory (unit vectors): what pgvector's `<=>` returns per bot."""
    sims = queries @ examples.T
    k = min(k, examples.shape[0])
    top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    return (
        np.take_along_axis(sims, top, axis=1).astype(float).tolist(),
        [[example_topics[j] for j in row] for row in top],
    )


def to_bytes(array: Array) -> bytes:
    return np.ascontiguousarray(array, dtype="<f4").tobytes()


def from_bytes(data: bytes | memoryview, shape: tuple[int, ...]) -> Array:
    return np.frombuffer(bytes(data), dtype="<f4").reshape(shape).astype(np.float32)
