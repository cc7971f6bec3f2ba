"""Platform overhead on the reply path, and frames per reply against tokens per reply.

Overhead = what a widget waits for its first `reply.delta` (send → first delta, measured by
a websocket client) minus the engine's own time to first token (`engine_ttft_ms` on the
reply row). At 50 concurrent conversations replies also wait for a free model worker; that
wait is capacity, not overhead, so a second column also subtracts the row's `queue_wait_ms`
(user message stored → generation starts). It includes the broker hop, so the 1-conversation
rows, where nothing queues, keep it in.

Load runs on the bench engine (instant, deterministic, bench/engine.py) over several worker
processes; the real SmolLM2 (llama.cpp, one worker, as `make run` starts it) runs at one
conversation and gives the frames-per-reply table.

    python -m bench.reply_overhead [--smollm2-replies 10] [--bench-workers 4]
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from bench import harness
from bench.harness import Conversation, Sample, median, percentile, table

# No first-person words: those also queue a model fact extraction (memory.longterm), on
# `llm-side`, which no bench worker consumes.
QUESTION = "How can a password be reset?"
GOAL_P50_MS, GOAL_P99_MS = 20.0, 60.0


async def one_at_a_time(ws_url: str, key: str, replies: int, warmup: int) -> list[Sample]:
    """Replies one after another, five per conversation (a visitor's message rate is capped)."""
    samples: list[Sample] = []
    while len(samples) < replies + warmup:
        async with Conversation(ws_url, key) as conversation:
            for _ in range(min(5, replies + warmup - len(samples))):
                samples.append(await conversation.ask(QUESTION))
    return samples[warmup:]


async def many_at_once(ws_url: str, key: str, conversations: int, rounds: int) -> list[Sample]:
    opened = [Conversation(ws_url, key) for _ in range(conversations)]
    await asyncio.gather(*(c.__aenter__() for c in opened))
    try:
        samples: list[Sample] = []
        for round_ in range(rounds + 1):  # round 0 warms every worker process
            got = await asyncio.gather(*(c.ask(QUESTION) for c in opened))
            if round_:
                samples += got
        return samples
    finally:
        await asyncio.gather(*(c.__aexit__() for c in opened))


def overhead_row(label: str, samples: list[Sample]) -> list[str]:
    harness.fill_from_rows(samples)
    client = [s.client_ttft_ms for s in samples]
    gross = [s.client_ttft_ms - s.engine_ttft_ms for s in samples]
    net = [s.client_ttft_ms - s.engine_ttft_ms - s.queue_wait_ms for s in samples]
    queue = [s.queue_wait_ms for s in samples]
    context = [s.worker_ttft_ms - s.engine_ttft_ms for s in samples]

    def ms(value: float) -> str:
        return f"{value:.1f}"

    return [
        label,
        str(len(samples)),
        ms(median(client)),
        ms(median([s.engine_ttft_ms for s in samples])),
        f"{ms(median(queue))} / {ms(percentile(queue, 99))}",
        f"{ms(median(gross))} / {ms(percentile(gross, 99))}",
        f"{ms(median(net))} / {ms(percentile(net, 99))}",
        ms(median(context)),
        f"{median(gross) / median(client):.2f}",
    ]


def stages_rows(label: str, samples: list[Sample]) -> list[list[str]]:
    """The median of each stage of the time to first text (filled rows only)."""
    stages = [s.stages_ms() for s in samples]
    return [[label, name, f"{median([st[name] for st in stages]):.1f}"] for name in stages[0]]


def frames_row(label: str, samples: list[Sample], frame_ms: int) -> list[str]:
    tokens = [float(s.completion_tokens) for s in samples]
    frames = [float(s.frames) for s in samples]
    return [
        label,
        str(len(samples)),
        f"{median(tokens):.0f}",
        f"{median(frames):.0f}",
        f"{sum(tokens) / max(1.0, sum(frames)):.1f}",
        f"{sum(frames) / max(1.0, sum(tokens)):.2f}",
        str(frame_ms),
    ]


OVERHEAD_HEADERS = [
    "scenario",
    "replies",
    "client TTFT p50",
    "engine TTFT p50",
    "queue wait p50 / p99",
    "overhead p50 / p99",
    "overhead - queue wait p50 / p99",
    "of which context + prompt p50",
    "overhead ÷ client TTFT",
]
FRAMES_HEADERS = [
    "scenario",
    "replies",
    "tokens / reply",
    "frames / reply",
    "tokens / frame",
    "frames ÷ tokens",
    "frame interval ms",
]


def show(overhead: list[list[str]], frames: list[list[str]], stages: list[list[str]]) -> None:
    """Both tables so far (printed after each phase, so a cut-short run still reports)."""
    print(
        f"\nTime to first token: platform overhead (ms; goal p50 ≤ {GOAL_P50_MS:.0f}, "
        f"p99 ≤ {GOAL_P99_MS:.0f})"
    )
    print(table(OVERHEAD_HEADERS, overhead))
    print("\nFrames sent per reply against tokens per reply")
    print(table(FRAMES_HEADERS, frames), flush=True)
    print("\nWhere the time to first text goes at 1 conversation (median ms, wall clock)")
    print(table(["scenario", "stage", "p50"], stages), flush=True)


def bench_engine_phase(
    env: dict[str, str],
    args: argparse.Namespace,
    overhead: list[list[str]],
    frames: list[list[str]],
    stages: list[list[str]],
    bench_model: str,
    frame_ms: int,
) -> None:
    """The bench engine on several worker processes: 1, then N conversations at once."""
    with harness.platform(env, llm_workers=args.bench_workers, worker_app="bench.worker") as live:
        key = harness.make_widget("bench", bench_model)
        print("bench engine, 1 conversation…", flush=True)
        samples = asyncio.run(one_at_a_time(live.ws_url, key, args.sequential, warmup=3))
        overhead.append(overhead_row("bench engine, 1 conversation", samples))
        stages += stages_rows("bench engine", samples)
        frames.append(frames_row("bench engine 32 tok x 5 ms, 1 conv.", samples, frame_ms))
        print(f"bench engine, {args.conversations} conversations…", flush=True)
        samples = asyncio.run(many_at_once(live.ws_url, key, args.conversations, args.rounds))
        overhead.append(
            overhead_row(
                f"bench engine, {args.conversations} conversations, {args.bench_workers} workers",
                samples,
            )
        )
        frames.append(frames_row(f"bench engine, {args.conversations} conv.", samples, frame_ms))


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # so the platform's processes are stopped on the way out


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench-workers", type=int, default=4)
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4, help="at most 8 (message rate cap)")
    parser.add_argument("--sequential", type=int, default=40)
    parser.add_argument("--smollm2-replies", type=int, default=6)
    parser.add_argument("--only", choices=["bench-engine", "smollm2"], help="run one phase")
    args = parser.parse_args(argv)

    print(f"reply_overhead: {harness.machine_line()}", flush=True)
    env = harness.prepare_services()
    try:
        run(args, env)
    finally:
        harness.stop_postgres()


def run(args: argparse.Namespace, env: dict[str, str]) -> None:
    from django.conf import settings

    frame_ms = settings.LLM_STREAM_FRAME_MS
    overhead: list[list[str]] = []
    frames: list[list[str]] = []
    stages: list[list[str]] = []

    bench_model = "32x5"  # 32 tokens, 5 ms apart: a fast GPU model's pace
    if args.only != "smollm2":
        bench_engine_phase(env, args, overhead, frames, stages, bench_model, frame_ms)
        show(overhead, frames, stages)
    if args.only == "bench-engine":
        return
    with harness.platform(env, llm_workers=1) as live:
        key = harness.make_widget("llamacpp", "", max_tokens=64)
        print("SmolLM2 (llama.cpp), 1 conversation…", flush=True)
        samples = asyncio.run(one_at_a_time(live.ws_url, key, args.smollm2_replies, warmup=1))
        overhead.append(overhead_row("SmolLM2 llama.cpp, 1 conversation", samples))
        stages += stages_rows("SmolLM2", samples)
        frames.append(frames_row("SmolLM2 llama.cpp, 1 conv.", samples, frame_ms))

    show(overhead, frames, stages)


if __name__ == "__main__":
    main()
