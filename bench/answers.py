"""Answer quality as a customer meets it: right article cited, its facts stated, nothing
invented, no loops, short, fast; and "I don't know" plus a person for what is out of scope.

The demo bot (`seed_demo`: 77 help articles, one per BANKING77 intent, with example questions
from the train split) on the bundled SmolLM2, as `make run` serves it. N questions drawn at
random from BANKING77's *test* split, each in a new conversation through the widget socket,
then out-of-domain questions. One at a time: latency is one customer's.

    python -m bench.answers [--questions 100] [--seed N] [--out-of-domain 20] [--dump FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import random
import re
import signal
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench import BANKING77, ROOT, harness
from bench.harness import Conversation, median, percentile, table
from bench.retrieval import OUT_OF_DOMAIN

GOALS = {
    "hit@3": "≥ 0.95",
    "top-1": "≥ 0.85",
    "fact recall": "≥ 0.9",
    "replies with an invented figure": "0",
    "loops": "0",
    "median words": "≤ 80",
    "first text p50 (client)": "≤ 0.8 s",
    "out-of-domain handled": "≥ 0.95",
}
DONT_KNOW = re.compile(r"\b(don't|do not) know\b|\bnot sure\b", re.IGNORECASE)
PERSON = re.compile(r"\b(person|human|agent|someone from our)\b", re.IGNORECASE)


@dataclass
class Reply:
    question: str
    intent: str  # "" for out-of-domain
    text: str
    cited: list[str]  # intents of the cited articles, in order
    client_ttft_ms: float
    engine_ttft_ms: float
    worker_ttft_ms: float
    model_name: str
    sources_text: str


def looped(text: str, run: int = 5, times: int = 3) -> bool:
    """Any run of `run` words three times or more (the issue's loop test)."""
    words = [re.sub(r"[^\w]", "", w.lower()) for w in text.split()]
    runs = Counter(tuple(words[i : i + run]) for i in range(len(words) - run + 1))
    return any(n >= times for n in runs.values())


def sample_questions(n: int, seed: int) -> list[tuple[str, str]]:
    with (BANKING77 / "test.csv").open(newline="", encoding="utf-8") as handle:
        rows = [(row["text"], row["category"]) for row in csv.DictReader(handle)]
    return random.Random(seed).sample(rows, n)


def seed_demo(env: dict[str, str]) -> str:
    """The demo bot as `make run` seeds it, its knowledge ingested here; its widget key."""
    import subprocess

    from bots.models import WidgetKey
    from memory.knowledge.ingestion import claim_documents, ingest_claims
    from memory.knowledge.models import Document
    from switchboard import supervisor

    subprocess.run(
        [
            supervisor.PYTHON,
            str(ROOT / "manage.py"),
            "seed_demo",
            f"--origin={harness.ORIGIN}",
            f"--banking77={BANKING77}",
        ],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    while pending := Document.objects.filter(status=Document.Status.PENDING).first():
        ingest_claims(claim_documents(pending.pk))
    key = WidgetKey.objects.select_related("bot").get(bot__organization__slug="demo")
    return key.key


async def ask_all(
    ws_url: str, key: str, questions: list[tuple[str, str]]
) -> list[tuple[int, float]]:
    """Each question in a new conversation, one after another: reply row ids, client TTFTs."""
    ids = []
    for n, (text, _) in enumerate(questions, 1):
        async with Conversation(ws_url, key) as conversation:
            sample = await conversation.ask(text)
        ids.append((sample.reply_id, sample.client_ttft_ms))
        if n % 10 == 0:
            print(f"  {n}/{len(questions)} asked", flush=True)
    return ids


def collect(questions: list[tuple[str, str]], asked: list[tuple[int, float]]) -> list[Reply]:
    from memory.conversations.models import Message
    from memory.knowledge.models import Chunk, Document

    intent_of = {
        pk: key.removeprefix("banking77/").removesuffix(".md")
        for pk, key in Document.objects.values_list("pk", "key")
    }
    rows = Message.objects.in_bulk([reply_id for reply_id, _ in asked])
    chunk_ids = {s.get("chunk_id") for row in rows.values() for s in row.sources or []}
    chunk_text = dict(Chunk.objects.filter(pk__in=chunk_ids).values_list("pk", "text"))
    replies = []
    for (question, intent), (reply_id, ttft) in zip(questions, asked, strict=True):
        row = rows[reply_id]
        sources = row.sources or []
        replies.append(
            Reply(
                question=question,
                intent=intent,
                text=row.text,
                cited=[intent_of.get(s.get("document_id"), "") for s in sources],
                client_ttft_ms=ttft,
                engine_ttft_ms=float(row.engine_ttft_ms or 0),
                worker_ttft_ms=float(row.ttft_ms or 0),
                model_name=row.model_name,
                sources_text="\n".join(chunk_text.get(s.get("chunk_id"), "") for s in sources),
            )
        )
    return replies


def _key(intent: str) -> str:
    """An intent as seed_demo keys its article (two of BANKING77's have a capital or a '?')."""
    return intent.rstrip("?").lower()


def figures_table(domain: list[Reply], outside: list[Reply]) -> list[list[str]]:
    from bots.demo.knowledge import ARTICLES
    from bots.grounding import figures

    hit3 = sum(_key(r.intent) in r.cited[:3] for r in domain) / len(domain)
    top1 = sum(r.cited[:1] == [_key(r.intent)] for r in domain) / len(domain)
    recalls = []
    for r in domain:
        wanted = figures(ARTICLES[r.intent][1])
        if wanted:
            recalls.append(len(wanted & figures(r.text)) / len(wanted))
    everything = [*domain, *outside]
    invented = [
        r for r in everything if figures(r.text) - figures(f"{r.sources_text}\n{r.question}")
    ]
    loops = sum(looped(r.text) for r in everything)
    words = [len(r.text.split()) for r in everything]
    client = [r.client_ttft_ms for r in everything]
    engine = [r.engine_ttft_ms for r in everything if r.engine_ttft_ms]
    worker = [r.worker_ttft_ms for r in everything]
    handled = sum(bool(DONT_KNOW.search(r.text) and PERSON.search(r.text)) for r in outside)
    kinds = Counter(r.model_name for r in everything)
    rows = [
        ["hit@3", f"{hit3:.2f}"],
        ["top-1", f"{top1:.2f}"],
        ["fact recall", f"{sum(recalls) / max(len(recalls), 1):.2f} ({len(recalls)} articles)"],
        ["replies with an invented figure", f"{len(invented)} of {len(everything)}"],
        ["loops", f"{loops} of {len(everything)}"],
        ["median words", f"{median([float(w) for w in words]):.0f}"],
        [
            "first text p50 (client)",
            f"{median(client) / 1000:.2f} s (p90 {percentile(client, 90) / 1000:.2f} s)",
        ],
        [
            "first text p50 (worker) / engine TTFT p50",
            f"{median(worker) / 1000:.2f} s / "
            + (f"{median(engine) / 1000:.2f} s ({len(engine)} replies)" if engine else "-"),
        ],
        ["out-of-domain handled", f"{handled / max(len(outside), 1):.2f} of {len(outside)}"],
        ["how replies were written", ", ".join(f"{k} {n}" for k, n in kinds.most_common())],
    ]
    return [[name, value, GOALS.get(name, "")] for name, value in rows]


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(SystemExit(1)))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--seed", type=int, default=random.SystemRandom().randrange(10**6))
    parser.add_argument("--out-of-domain", type=int, default=20)
    parser.add_argument("--dump", type=Path, help="write every question and reply (JSON lines)")
    args = parser.parse_args(argv)

    print(f"answers: {harness.machine_line()}, seed {args.seed}", flush=True)
    env = harness.prepare_services()
    try:
        key = seed_demo(env)
        questions = sample_questions(args.questions, args.seed)
        questions += [(q, "") for q in OUT_OF_DOMAIN[: args.out_of_domain]]
        with harness.platform(env, llm_workers=1, background=True) as live:
            print(f"asking {len(questions)} questions, one conversation each…", flush=True)
            asked = asyncio.run(ask_all(live.ws_url, key, questions))
        replies = collect(questions, asked)
    finally:
        harness.stop_postgres()
    if args.dump:
        with args.dump.open("w", encoding="utf-8") as out:
            for r in replies:
                out.write(json.dumps(r.__dict__, ensure_ascii=False) + "\n")
    domain = [r for r in replies if r.intent]
    outside = [r for r in replies if not r.intent]
    print()
    print(table(["figure", "measured", "goal"], figures_table(domain, outside)))


if __name__ == "__main__":
    main()
