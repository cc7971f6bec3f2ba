"""Topic accuracy on BANKING77 (77 intents): the train split as a bot's examples, the 3,080
test queries as customer messages, through the production classifier (bots/topics/classifier.py:
the same `fit`, `nearest` and `classify`, with the same settings, that each bot's worker uses;
each topic's name counts as one more example, as it does for a bot).

Published bar (Casanueva et al. 2020): 93.36 % with the full train split, 85.19 % with 10
examples per intent. The 10-shot figure is the mean over 3 seeded draws.

    python -m bench.topics [--data ../shared/data/banking77] [--draws 3] [--no-cache]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "platform")]

from bench import BANKING77  # noqa: E402
from bots.topics import classifier  # noqa: E402
from memory import embeddings  # noqa: E402

DATA = BANKING77
CACHE = Path(__file__).resolve().parents[1] / ".switchboard" / "bench"
BAR_FULL, BAR_10SHOT = 0.9336, 0.8519


def load(split: Path) -> tuple[list[str], list[str]]:
    with split.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row["text"] for row in rows], [row["category"] for row in rows]


def embed_cached(texts: list[str], use_cache: bool) -> tuple[npt.NDArray[np.float32], float]:
    """Embeddings of `texts`, cached on disk by content (git-ignored .switchboard/bench/)."""
    digest = hashlib.sha256("\n".join([embeddings.MODEL_NAME, *texts]).encode()).hexdigest()[:16]
    path = CACHE / f"embeddings-{digest}.npy"
    if use_cache and path.exists():
        return np.load(path, allow_pickle=False), 0.0
    started = time.perf_counter()
    vectors = embeddings.embed(texts)
    seconds = time.perf_counter() - started
    if use_cache:
        CACHE.mkdir(parents=True, exist_ok=True)
        np.save(path, vectors, allow_pickle=False)
    return vectors, seconds


def evaluate(
    train: npt.NDArray[np.float32],
    train_labels: list[str],
    test: npt.NDArray[np.float32],
    test_labels: list[str],
) -> dict[str, float]:
    """Accuracy of the production classifier and of its two halves alone, with timings."""
    started = time.perf_counter()
    model = classifier.fit(train, train_labels)
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    similarities, topics = classifier.nearest(train, train_labels, test)
    labels = classifier.classify(model, test, similarities, topics)
    classify_ms = (time.perf_counter() - started) * 1000 / len(test_labels)
    linear = classifier.linear_probabilities(model, test).argmax(axis=1)
    gold = np.array(test_labels)

    def accuracy(predicted: list[str]) -> float:
        return float((np.array(predicted) == gold).mean())

    return {
        "production": accuracy([label.topic if label else "" for label in labels]),
        "logreg": accuracy([model.topic_names[i] for i in linear]),
        "1nn": accuracy([row[0] for row in topics]),
        "train_s": train_s,
        "classify_ms": classify_ms,
    }


def few_shot(labels: list[str], shots: int, seed: int) -> list[int]:
    rng = np.random.default_rng(seed)
    by_topic: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_topic.setdefault(label, []).append(i)
    picked: list[int] = []
    for topic in sorted(by_topic):
        picked += sorted(rng.choice(by_topic[topic], size=shots, replace=False).tolist())
    return picked


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--shots", type=int, default=10)
    parser.add_argument("--no-cache", action="store_true", help="re-embed the 13k sentences")
    args = parser.parse_args(argv)

    train_texts, train_labels = load(args.data / "train.csv")
    test_texts, test_labels = load(args.data / "test.csv")
    print(
        f"topics: BANKING77, {len(train_texts)} examples, {len(test_texts)} test queries, "
        f"{len(set(train_labels))} topics; {classifier.METHOD} on {embeddings.MODEL_NAME}",
        flush=True,
    )
    train, train_embed_s = embed_cached(train_texts, not args.no_cache)
    test, test_embed_s = embed_cached(test_texts, not args.no_cache)
    if train_embed_s or test_embed_s:
        rate = (len(train_texts) + len(test_texts)) / (train_embed_s + test_embed_s)
        print(f"embedded in {train_embed_s + test_embed_s:.1f} s ({rate:.0f} sentences/s)")

    # As in production (bots.topics.services), each topic's name is one more example.
    names = sorted(set(train_labels))
    name_vectors, _ = embed_cached(
        [classifier.name_as_example(n) for n in names], not args.no_cache
    )

    def with_names(picked: list[int]) -> tuple[npt.NDArray[np.float32], list[str]]:
        return np.vstack([train[picked], name_vectors]), [train_labels[i] for i in picked] + names

    full = evaluate(*with_names(list(range(len(train_labels)))), test, test_labels)
    draws = []
    for seed in range(args.draws):
        draws.append(
            evaluate(*with_names(few_shot(train_labels, args.shots, seed)), test, test_labels)
        )

    def pct(value: float) -> str:
        return f"{value * 100:.2f} %"

    def mean(key: str) -> float:
        return float(np.mean([d[key] for d in draws]))

    rows = [
        ["full train split", pct(full["production"]), pct(full["logreg"]), pct(full["1nn"]),
         pct(BAR_FULL), f"{full['train_s']:.1f} s", f"{full['classify_ms']:.2f} ms"],
        [f"{args.shots} per topic (mean of {args.draws})", pct(mean("production")),
         pct(mean("logreg")), pct(mean("1nn")), pct(BAR_10SHOT), f"{mean('train_s'):.1f} s",
         f"{mean('classify_ms'):.2f} ms"],
    ]  # fmt: skip
    headers = ["examples", "production", "logreg alone", "1-NN alone", "published bar", "train",
               "classify/query"]  # fmt: skip
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("| " + " | ".join("-" * w for w in widths) + " |")
    for row in rows:
        print("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |")
    print(
        "draws: " + ", ".join(pct(d["production"]) for d in draws)
        + " (classify/query excludes embedding the query; the worker adds one MiniLM call)"
    )  # fmt: skip
    print(f"banking77_accuracy: {full['production']:.4f}")
    print(f"banking77_{args.shots}shot_accuracy: {mean('production'):.4f}")


if __name__ == "__main__":
    main()
