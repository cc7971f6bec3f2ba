"""Knowledge retrieval: relevance thresholds on the demo bank's articles, then latency and
recall of the vector search at 10k and 100k chunks (one bot), exact versus HNSW.

    python -m bench.retrieval [--sizes 10000,100000] [--queries 200] [--ef 40,100,200]

Runs in this process against its own embedded Postgres (.switchboard/bench-knowledge) and a
fresh database. Query vectors are embedded beforehand, so latency is the database's part;
the query embedding (one MiniLM call) is timed separately.
Vectors: the 10,003 BANKING77 training sentences embedded for real; sizes above that add
noisy copies of them (real vector + Gaussian noise, renormalised), which keeps the real
clustering (hard for HNSW) without embedding 100k texts. Queries: BANKING77 test sentences.
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from bench import BANKING77
from bench.harness import own_services, percentile, table

DATA = BANKING77
BENCH_DB = "switchboard_bench_knowledge"
OUT_OF_DOMAIN = [
    "What is a good recipe for a chocolate birthday cake?",
    "Who won the football world cup in 2018?",
    "How do I change the oil in my car?",
    "What's the weather going to be like tomorrow in Paris?",
    "Can you recommend a good science fiction novel?",
    "How many legs does a spider have?",
    "What is the capital of Australia?",
    "How do I fix a segmentation fault in C?",
    "What time does the cinema open on Sundays?",
    "How do I train my puppy to sit?",
    "Which planet is closest to the sun?",
    "How long should I boil an egg?",
    "What are the symptoms of the flu?",
    "Can you write me a poem about the sea?",
    "How do I grow tomatoes on a balcony?",
    "What is the best way to learn the guitar?",
    "Who painted the Mona Lisa?",
    "How tall is Mount Everest?",
    "What's the plot of Hamlet?",
    "How do I install Python on Windows?",
    "Is it going to rain this weekend?",
    "What should I pack for a camping trip?",
    "How do I get red wine out of a carpet?",
    "What is photosynthesis?",
    "Tell me a joke about penguins.",
    "How do I make my sourdough rise more?",
    "What are good exercises for back pain?",
    "How do I reset my wifi router?",
    "Which is faster, a cheetah or a horse?",
    "What's the difference between a violin and a viola?",
    "How do I unclog a kitchen sink?",
    "What year did the Berlin wall fall?",
    "How many calories are in a banana?",
    "What's a good name for a goldfish?",
    "How do I tie a bow tie?",
    "Where can I watch the new Star Wars series?",
    "How do volcanoes form?",
    "What is the speed of light?",
    "Can cats eat chocolate?",
    "How do I knit a scarf?",
]


def prepare() -> None:
    """Own embedded Postgres and Redis, a fresh migrated database, Django set up."""
    own_services("bench-knowledge", BENCH_DB)


def load(split: str) -> tuple[list[str], list[str]]:
    with (DATA / split).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [r["text"] for r in rows], [r["category"] for r in rows]


def embed(texts: list[str]) -> npt.NDArray[np.float32]:
    from bench.topics import embed_cached

    vectors, _ = embed_cached(texts, True)
    return vectors


def make_bot(name: str) -> Any:
    import uuid

    from accounts.models import Organization
    from bots.models import Bot

    slug = f"bench-{uuid.uuid4().hex[:8]}"
    org = Organization.objects.create(name=slug, slug=slug)
    return Bot.objects.create(organization=org, name=name)


def relevance(queries_per_intent: int) -> None:
    """How similar the best chunk is for on-topic versus off-topic questions."""
    from bots.demo.knowledge import seed_demo_knowledge
    from memory.knowledge.ingestion import ingest_document
    from memory.knowledge.models import Document
    from memory.knowledge.selectors import retrieve_chunks

    bot = make_bot("Acme demo")
    seed_demo_knowledge(bot)
    for document in Document.objects.filter(bot=bot):
        ingest_document(document.pk)
    intent_of = {
        d.pk: d.key.removeprefix("banking77/").removesuffix(".md")
        for d in Document.objects.filter(bot=bot)
    }

    texts, labels = load("test.csv")
    picked: dict[str, int] = {}
    queries = []
    for text, label in zip(texts, labels, strict=True):
        if picked.get(label, 0) < queries_per_intent:
            picked[label] = picked.get(label, 0) + 1
            queries.append((text, label.rstrip("?").lower()))
    vectors = embed([q for q, _ in queries] + OUT_OF_DOMAIN)
    best_in, correct_in = [], []
    for (text, label), vector in zip(queries, vectors, strict=False):
        hits = retrieve_chunks(bot, text, limit=3, vector=vector)
        best_in.append(max(h.similarity for h in hits))
        correct_in.append(label in {intent_of[h.document_id] for h in hits})
    best_out = []
    for text, vector in zip(OUT_OF_DOMAIN, vectors[len(queries) :], strict=True):
        hits = retrieve_chunks(bot, text, limit=3, vector=vector)
        best_out.append(max((h.similarity for h in hits), default=-1.0))
    top1 = sum(correct_in) / len(correct_in)
    print(
        f"\nrelevance: 77 help articles; {len(queries)} BANKING77 test questions (on topic, "
        f"right article in top 3: {top1:.1%}); {len(OUT_OF_DOMAIN)} off-topic questions"
    )
    rows = []
    for threshold in [0.25, 0.30, 0.35, 0.40, 0.45, 0.50]:
        answered = [c for b, c in zip(best_in, correct_in, strict=True) if b >= threshold]
        rows.append(
            [
                f"{threshold:.2f}",
                f"{len(answered) / len(best_in):.1%}",
                f"{(sum(answered) / len(answered)) if answered else 0:.1%}",
                f"{sum(b >= threshold for b in best_out) / len(best_out):.1%}",
            ]
        )
    print(
        table(
            ["min similarity", "on-topic answered", "of which right article", "off-topic answered"],
            rows,
        )
    )
    print(
        f"best similarity, on topic: p5 {percentile(best_in, 5):.2f} p50 "
        f"{percentile(best_in, 50):.2f}; off topic: p50 {percentile(best_out, 50):.2f} "
        f"p95 {percentile(best_out, 95):.2f} max {max(best_out):.2f}"
    )

    # Curated FAQ answers: the training sentences as FAQ questions; a test question takes the
    # nearest one's answer when similar enough. Precision = the same intent.
    train_texts, train_labels = load("train.csv")
    train = embed(train_texts)
    test_texts, test_labels = load("test.csv")
    test = embed(test_texts)
    similarity = test @ train.T
    nearest = similarity.argmax(axis=1)
    best = similarity[np.arange(len(test)), nearest]
    same = np.array([train_labels[j] == test_labels[i] for i, j in enumerate(nearest)])
    rows = []
    for threshold in [0.70, 0.75, 0.80, 0.85, 0.90, 0.95]:
        taken = best >= threshold
        rows.append(
            [
                f"{threshold:.2f}",
                f"{taken.mean():.1%}",
                f"{same[taken].mean() if taken.any() else 0:.1%}",
            ]
        )
    print("\ncurated FAQ: BANKING77 train sentences as FAQ questions, test sentences as asked")
    print(table(["min similarity", "FAQ answer given", "right FAQ (precision)"], rows))


def load_chunks(bot: Any, vectors: npt.NDArray[np.float32], texts: list[str]) -> None:
    """Bulk-load chunks (COPY), one document per 1,000 (Postgres computes the full-text
    vectors: a generated column)."""
    from django.db import connection
    from pgvector.psycopg import register_vector

    from memory.knowledge.models import Document

    with connection.cursor() as cursor:
        raw = cursor.connection
        register_vector(raw)
        per_doc = 1000
        for start in range(0, len(vectors), per_doc):
            document = Document.objects.create(
                organization_id=bot.organization_id,
                bot=bot,
                title=f"Synthetic {start // per_doc}",
                kind="text",
                status="ready",
                chunks_total=min(per_doc, len(vectors) - start),
            )
            Document.objects.filter(pk=document.pk).update(ingested_at=document.created_at)
            with raw.cursor().copy(
                "COPY knowledge_chunk (organization_id, bot_id, document_id, ordinal, heading, "
                "anchor, text, question, answer, embedding) FROM STDIN WITH (FORMAT BINARY)"
            ) as copy:
                copy.set_types(
                    ["int8", "int8", "int8", "int4", "text", "text", "text", "text", "text",
                     "vector"]
                )  # fmt: skip
                for n in range(start, min(start + per_doc, len(vectors))):
                    copy.write_row(
                        [bot.organization_id, bot.pk, document.pk, n - start, "", "",
                         texts[n], "", "", vectors[n]]
                    )  # fmt: skip
        cursor.execute("VACUUM ANALYZE knowledge_chunk")


def timed(fn: Any, repeat: int = 1) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def scale(sizes: list[int], n_queries: int, efs: list[int]) -> None:
    from django.db import connection, transaction

    from memory.knowledge.selectors import retrieve_chunks

    train_texts, _ = load("train.csv")
    train = embed(train_texts)
    test_texts, _ = load("test.csv")
    rng = np.random.default_rng(7)
    picks = rng.choice(len(test_texts), size=n_queries, replace=False)
    q_texts = [test_texts[i] for i in picks]
    q_vecs = embed(test_texts)[picks]
    embed_ms = timed(lambda: __import__("memory.embeddings").embeddings.embed([q_texts[0]]), 20)

    bot = make_bot("Scale")
    loaded = 0
    rows = []
    for size in sizes:
        with connection.cursor() as cursor:  # bulk load first, build the graph once after
            cursor.execute("DROP INDEX IF EXISTS knowledge_chunk_embedding")
        extra = size - loaded
        if loaded == 0:
            base = min(size, len(train))
            vecs, texts = train[:base], train_texts[:base]
            extra -= base
            load_chunks(bot, vecs, list(texts))
            loaded += base
        if extra > 0:
            parents = rng.integers(0, len(train), size=extra)
            noisy = train[parents] + rng.normal(0, 0.02, size=(extra, train.shape[1])).astype(
                np.float32
            )
            noisy /= np.linalg.norm(noisy, axis=1, keepdims=True)
            load_chunks(
                bot, noisy, [f"{train_texts[p]} (variant {i})" for i, p in enumerate(parents)]
            )
            loaded += extra
        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX IF EXISTS knowledge_chunk_embedding")
            cursor.execute("SET maintenance_work_mem = '1GB'")
            started = time.perf_counter()
            cursor.execute(
                "CREATE INDEX knowledge_chunk_embedding ON knowledge_chunk "
                "USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
            )
            build_s = time.perf_counter() - started
            cursor.execute("ANALYZE knowledge_chunk")
        print(f"\n{size:,} chunks loaded; HNSW (m=16, ef_construction=64) built in {build_s:.0f} s")

        def vector_top(vec: npt.NDArray[np.float32], mode: str) -> list[int]:
            literal = "[" + ",".join(f"{x:.7g}" for x in vec) + "]"
            with transaction.atomic(), connection.cursor() as cursor:
                if mode == "exact":
                    cursor.execute("SET LOCAL enable_indexscan = off")
                else:
                    cursor.execute(f"SET LOCAL hnsw.ef_search = {int(mode)}")
                cursor.execute(
                    "SELECT id FROM knowledge_chunk WHERE bot_id = %s AND organization_id = %s "
                    "ORDER BY embedding <=> %s::vector LIMIT 10",
                    [bot.pk, bot.organization_id, literal],
                )
                return [r[0] for r in cursor.fetchall()]

        truth = [vector_top(v, "exact") for v in q_vecs]
        modes = ["exact", *[str(ef) for ef in efs]]
        for mode in modes:
            found = []
            latencies = []
            for vec in q_vecs:
                started = time.perf_counter()
                found.append(vector_top(vec, mode))
                latencies.append((time.perf_counter() - started) * 1000)
            recall = np.mean([len(set(f) & set(t)) / 10 for f, t in zip(found, truth, strict=True)])
            # The full hybrid query as replies use it (vector + full-text, RRF), same mode.
            hybrid = []
            for text, vec in zip(q_texts, q_vecs, strict=True):
                if mode == "exact":
                    fn = lambda t=text, v=vec: retrieve_chunks(bot, t, vector=v, exact=True)  # noqa: E731
                else:
                    from django.test.utils import override_settings

                    def fn(t: str = text, v: Any = vec, ef: int = int(mode)) -> None:
                        with override_settings(KNOWLEDGE_EF_SEARCH=ef):
                            retrieve_chunks(bot, t, vector=v, exact=False)

                hybrid += timed(fn)
            rows.append(
                [
                    f"{size:,}",
                    "exact" if mode == "exact" else f"hnsw ef_search={mode}",
                    f"{percentile(latencies, 50):.1f}",
                    f"{percentile(latencies, 95):.1f}",
                    f"{recall:.3f}",
                    f"{percentile(hybrid, 50):.1f}",
                    f"{percentile(hybrid, 95):.1f}",
                ]
            )
            print(" | ".join(rows[-1]), flush=True)
    print(
        f"\nretrieval latency, {n_queries} BANKING77 test questions, one bot; "
        f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f}"
    )
    print(
        table(
            [
                "chunks",
                "search",
                "vector p50 ms",
                "vector p95 ms",
                "recall@10 vs exact",
                "hybrid p50 ms",
                "hybrid p95 ms",
            ],
            rows,
        )
    )
    print(
        f"query embedding (MiniLM, one sentence): p50 {percentile(embed_ms, 50):.1f} ms, "
        f"p95 {percentile(embed_ms, 95):.1f} ms"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--ef", default="40,100,200")
    parser.add_argument("--per-intent", type=int, default=10)
    parser.add_argument("--skip-relevance", action="store_true")
    parser.add_argument("--skip-scale", action="store_true")
    args = parser.parse_args(argv)
    prepare()
    if not args.skip_relevance:
        relevance(args.per_intent)
    if not args.skip_scale:
        scale(
            [int(s) for s in args.sizes.split(",")],
            args.queries,
            [int(e) for e in args.ef.split(",")],
        )


if __name__ == "__main__":
    main()
