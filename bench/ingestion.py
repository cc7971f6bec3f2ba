"""Knowledge ingestion throughput (chunks/s): extract, chunk, embed (MiniLM) and store,
through `claim_documents` and `ingest_claims` — what the `embeddings` worker's task runs —
in this process, on the bench's own database.

    python -m bench.ingestion [--docs 10] [--faq 1000]

Three corpora, because the cost is the embedding and it grows with chunk length: the 77
demo help articles (short), synthetic Markdown manuals built from BANKING77 sentences (one
~120-word section per intent), and a FAQ whose questions (short) are what gets embedded.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from bench.harness import table
from bench.retrieval import load, make_bot, prepare


def manuals(count: int) -> list[tuple[str, str]]:
    texts, labels = load("train.csv")
    by_intent: dict[str, list[str]] = {}
    for text, label in zip(texts, labels, strict=True):
        by_intent.setdefault(label, []).append(text.strip())
    documents = []
    for n in range(count):
        parts = [f"# Support manual {n + 1}"]
        for intent, sentences in sorted(by_intent.items()):
            picked = [sentences[(n * 11 + k) % len(sentences)] for k in range(11)]
            parts.append(f"## {intent.replace('_', ' ').capitalize()}\n\n" + " ".join(picked))
        documents.append((f"Support manual {n + 1}", "\n\n".join(parts)))
    return documents


def faq(count: int) -> str:
    texts, labels = load("train.csv")
    return "\n\n".join(
        f"Q: {texts[i].strip()}\nA: See our article about {labels[i].replace('_', ' ')}."
        for i in range(min(count, len(texts)))
    )


def run(bot: Any, documents: list[tuple[str, str, str]]) -> tuple[int, float, float, float]:
    """Ingest; return chunks, seconds, seconds inside embed, mean words per embedded text."""
    import memory.embeddings
    from memory.knowledge.ingestion import claim_documents, ingest_claims
    from memory.knowledge.models import Chunk, Document
    from memory.knowledge.services import add_document

    spent = [0.0]
    words = [0, 0]
    real_embed = memory.embeddings.embed

    def timed_embed(texts: list[str]) -> Any:
        started = time.perf_counter()
        try:
            return real_embed(texts)
        finally:
            spent[0] += time.perf_counter() - started
            words[0] += sum(len(t.split()) for t in texts)
            words[1] += len(texts)

    memory.embeddings.embed = timed_embed  # type: ignore[assignment]
    try:
        added = [add_document(bot, kind=k, title=t, body=b) for k, t, b in documents]
        started = time.perf_counter()
        # What one worker does with one queued task per document: the first task takes the
        # bot's pending documents together (claim_documents), the rest find theirs done.
        for document in added:
            claims = claim_documents(document.pk)
            if claims:
                ingest_claims(claims)
        seconds = time.perf_counter() - started
        states = set(Document.objects.filter(pk__in=[d.pk for d in added]).values_list("status"))
        assert states == {("ready",)}, states
    finally:
        memory.embeddings.embed = real_embed  # type: ignore[assignment]
    chunks = Chunk.objects.filter(document__in=added).count()
    return chunks, seconds, spent[0], words[0] / max(words[1], 1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=10, help="synthetic manuals")
    parser.add_argument("--faq", type=int, default=1000, help="FAQ pairs")
    args = parser.parse_args(argv)
    prepare()
    from bots.demo.knowledge import ARTICLES, article_markdown
    from memory.embeddings import embed

    embed(["warm up the model"])  # loading the model is a once-per-worker cost
    corpora = {
        "77 demo help articles": [
            ("markdown", title, article_markdown(title, body)) for title, body in ARTICLES.values()
        ],
        f"{args.docs} Markdown manuals": [("markdown", t, b) for t, b in manuals(args.docs)],
        f"FAQ, {args.faq} pairs": [("faq", "FAQ", faq(args.faq))],
    }
    rows = []
    for name, documents in corpora.items():
        bot = make_bot(name)
        chunks, seconds, embed_s, words = run(bot, documents)
        rows.append(
            [
                name,
                str(chunks),
                f"{words:.0f}",
                f"{seconds:.1f}",
                f"{chunks / seconds:.0f}",
                f"{embed_s / seconds:.0%}",
            ]
        )
        print(" | ".join(rows[-1]), flush=True)
    print(
        f"\ningestion, in-process (the worker's code path); {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    print(
        table(
            ["corpus", "chunks", "words embedded/chunk", "seconds", "chunks/s", "time embedding"],
            rows,
        )
    )


if __name__ == "__main__":
    main()
