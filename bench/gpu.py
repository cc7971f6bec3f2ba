"""Many conversations on one GPU: transformers' continuous batching alone, then through the
`llm` worker (issue #13).

    python -m bench.gpu                 # Qwen2-7B-shaped random model (a GPU: bench/gpu_device.sh)
    TINY=1 python -m bench.gpu          # a 2-layer model on the CPU: a smoke test of the script

The model is built here, never downloaded: a Qwen2 config (7B's shape, or 2 small layers with
TINY=1), random weights saved as safetensors to .switchboard/bench/models/, and the tokenizer
(with its ChatML template) read from the bundled SmolLM2 GGUF. Each phase runs 1, 8 and 64
conversations at once, each a ~500-token prompt and up to 128 new tokens (TINY: 64):

(a) the library alone: `model.init_continuous_batching()`, every request added at once,
    streamed, timed as each token leaves the manager;
(b) the platform: a web process and the `llm` worker (one process, a thread pool of
    SWITCHBOARD_LLM_CONCURRENCY, the model's one shared scheduler), on the bench's Postgres
    and Redis; each conversation is a widget socket, timed as its text arrives.

Printed per row: aggregate tokens/s (all tokens generated / wall time from the first send to
the last reply), first token p50/p99, inter-token p99 ((b): between the socket's deltas,
which carry ~40 ms of tokens each) and, at the largest concurrency, cancel → slot freed:
(a) from `cancel_request` to the library dropping the request; (b) from a takeover to the
next conversation in line getting its first text (all slots full, one more waiting).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import ROOT, harness

TINY = os.environ.get("TINY", "") not in ("", "0")
if TINY:
    # On a CPU the library would size its paged cache from free RAM (gigabytes), and every
    # step would attend over all of it: a cache for 65 conversations of ~520 tokens instead.
    os.environ.setdefault("SWITCHBOARD_LLM_KV_BLOCKS", "160")
    os.environ.setdefault("SWITCHBOARD_LLM_MAX_BATCH_TOKENS", "1024")
QWEN2_7B = {  # Qwen2-7B's config.json, SmolLM2's vocabulary instead of Qwen's
    "hidden_size": 3584,
    "intermediate_size": 18944,
    "num_hidden_layers": 28,
    "num_attention_heads": 28,
    "num_key_value_heads": 4,
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-06,
    "tie_word_embeddings": False,
}
TINY_SHAPE = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 4096,
    "tie_word_embeddings": True,
}
# The guard (bots.grounding) cuts a reply at a figure it was not given: a random model says
# digits now and then, so the persona gives them. Padded to a ~500-token prompt.
PERSONA = (
    "You are the support assistant of an online shop. "
    + " ".join(str(n) for n in range(21))
    + " 30 40 50 100 1000. "
    + "Answer politely, briefly and only from what you know about orders, delivery, "
    "returns, refunds, payments, accounts and our opening hours. " * 12
)
QUESTION = "Hello, where is my parcel and when will it arrive at my address?"


def model_folder() -> Path:
    """The random model, built once and kept under .switchboard/bench/models/."""
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from bots.engines.llamacpp import bundled_model_path

    folder = ROOT / ".switchboard" / "bench" / "models" / ("qwen2-tiny" if TINY else "qwen2-7b")
    if (folder / "config.json").is_file() and list(folder.glob("*.safetensors")):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    carried = os.environ.get("BENCH_TOKENIZER", "")  # converted ahead (bench/gpu_prepare.sh)
    if carried:
        tokenizer = AutoTokenizer.from_pretrained(carried, local_files_only=True)
    else:
        gguf = bundled_model_path()
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **(TINY_SHAPE if TINY else QWEN2_7B),
    )
    started = time.perf_counter()
    print(f"building {folder.name} (random weights)…", flush=True)
    torch.manual_seed(0)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device(device):
        model = Qwen2ForCausalLM(config).to(dtype)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    del model
    gc.collect()
    print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
    return folder


@dataclass
class Run:
    """One concurrency level's timings."""

    sends: dict[str, float] = field(default_factory=dict)
    stamps: dict[str, list[float]] = field(default_factory=dict)  # per token / delta
    tokens: dict[str, int] = field(default_factory=dict)
    cancel_ms: float | None = None

    def row(self, label: str, concurrency: int) -> list[str]:
        start = min(self.sends.values())
        end = max(s[-1] for s in self.stamps.values() if s)
        total = sum(self.tokens.values())
        first = [(s[0] - self.sends[k]) * 1000 for k, s in self.stamps.items() if s]
        gaps = [(b - a) * 1000 for s in self.stamps.values() for a, b in itertools.pairwise(s)]
        cancel = "—" if self.cancel_ms is None else f"{self.cancel_ms:.0f}"
        return [
            label,
            str(concurrency),
            f"{total / (end - start):.0f}",
            f"{harness.percentile(first, 50):.0f}",
            f"{harness.percentile(first, 99):.0f}",
            f"{harness.percentile(gaps, 99):.0f}",
            cancel,
        ]


HEADERS = [
    "path",
    "conversations",
    "tokens/s (all)",
    "first token p50 ms",
    "p99 ms",
    "inter-token p99 ms",
    "cancel → slot freed ms",
]


# (a) the library alone


def library_phase(folder: Path, levels: list[int], new_tokens: int) -> list[list[str]]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    from bots.engines.scheduler import GenerationScheduler

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    model = AutoModelForCausalLM.from_pretrained(
        str(folder), dtype=dtype, attn_implementation="sdpa"
    ).to(device)
    model.eval()
    prompt = tokenizer.apply_chat_template(
        [{"role": "system", "content": PERSONA}, {"role": "user", "content": QUESTION}],
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
    )["input_ids"]
    print(f"(a) prompt of {len(prompt)} tokens, {new_tokens} new", flush=True)
    generation = GenerationConfig(
        do_sample=True,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        max_new_tokens=new_tokens,
        eos_token_id=-1,  # every request generates all its tokens: same work at each level
        pad_token_id=tokenizer.eos_token_id,
    )
    # The same configuration the worker's scheduler gives the library (its kwargs builder),
    # but requests go straight to the manager: no admission line, no routing thread.
    options = GenerationScheduler(
        model,
        generation,
        slots=max(levels),
        num_blocks=_env_int("SWITCHBOARD_LLM_KV_BLOCKS"),
        max_batch_tokens=_env_int("SWITCHBOARD_LLM_MAX_BATCH_TOKENS"),
        compile_level=_env_int("SWITCHBOARD_LLM_COMPILE_LEVEL") or 0,
    )._manager_kwargs()
    manager = model.init_continuous_batching(**options)
    if _env_int("SWITCHBOARD_LLM_WARMUP") and callable(getattr(manager, "warmup", None)):
        manager.warmup()
    manager.start()
    rows = []
    try:
        _library_run(manager, prompt, 1, 8)  # warm-up: first allocations, kernels
        for level in levels:
            run = _library_run(manager, prompt, level, new_tokens, cancel=level == max(levels))
            rows.append(run.row("(a) library alone", level))
            print(harness.table(HEADERS, rows[-1:]), flush=True)
    finally:
        manager.stop(block=True, timeout=30)
        del manager, model
        gc.collect()
        if device == "cuda":
            torch.cuda.empty_cache()
    return rows


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "")
    return int(value) if value.strip() else None


def _library_run(
    manager: Any, prompt: list[int], level: int, new_tokens: int, *, cancel: bool = False
) -> Run:
    run = Run()
    ids = [f"bench-{time.monotonic_ns()}-{i}" for i in range(level)]
    for request_id in ids:
        run.sends[request_id] = time.perf_counter()
        run.stamps[request_id] = []
        manager.add_request(
            prompt, request_id=request_id, max_new_tokens=new_tokens, streaming=True
        )
    victim = f"bench-victim-{time.monotonic_ns()}" if cancel else None
    if victim:
        manager.add_request(prompt, request_id=victim, max_new_tokens=new_tokens, streaming=True)
    pending = set(ids)
    seen_victim = 0
    while pending:
        output = manager.get_result(timeout=60)
        if output is None:
            raise RuntimeError("the library produced nothing for 60 s")
        now = time.perf_counter()
        if output.request_id == victim:
            seen_victim += 1
            if seen_victim == 3:  # cancelled mid-stream; how long until the library drops it
                cancelled_at = time.perf_counter()
                manager.cancel_request(victim)
                threading.Thread(
                    target=_time_release, args=(manager, victim, cancelled_at, run), daemon=True
                ).start()
            continue
        if output.request_id not in pending:
            continue
        if getattr(output, "error", None):
            raise RuntimeError(f"request failed: {output.error}")
        count = len(output.generated_tokens)
        stamps = run.stamps[output.request_id]
        stamps.extend([now] * (count - len(stamps)))
        run.tokens[output.request_id] = count
        if output.is_finished():
            pending.discard(output.request_id)
    deadline = time.monotonic() + 10
    while victim and run.cancel_ms is None and time.monotonic() < deadline:
        time.sleep(0.01)
    return run


def _time_release(manager: Any, request_id: str, cancelled_at: float, run: Run) -> None:
    while True:
        inner = getattr(getattr(manager, "batch_processor", None), "scheduler", None)
        held = inner is not None and (
            request_id in getattr(inner, "active_requests", {})
            or request_id in getattr(inner, "waiting_requests", {})
            or request_id in getattr(inner, "_requests_to_cancel", set())
            or request_id in list(manager.cancel_queue.queue)
        )
        if not held:
            run.cancel_ms = (time.perf_counter() - cancelled_at) * 1000
            return
        time.sleep(0.0005)


# (b) through the `llm` worker


def platform_phase(
    folder: Path, env: dict[str, str], levels: list[int], new_tokens: int
) -> list[list[str]]:
    from switchboard import supervisor

    slots = max(levels)
    env = {
        **env,
        "SWITCHBOARD_MODELS": json.dumps(
            {"bench-qwen2": {"engine": "transformers", "model": str(folder)}}
        ),
        "SWITCHBOARD_LLM_CONCURRENCY": str(slots + 8),
        "SWITCHBOARD_LLM_BATCH_SLOTS": str(slots),
        "SWITCHBOARD_LLM_TEMPERATURE": "1.0",
        "SWITCHBOARD_LLM_CONTEXT_TOKENS": "4096",
        "SWITCHBOARD_LLM_SOFT_TIME_LIMIT": "600",
    }
    env.setdefault("SWITCHBOARD_LLM_WARMUP", "1")
    rows = []
    with harness.platform(env, llm_pool=supervisor.llm_pool(1, slots + 8)) as live:
        keys = [_widget(folder, new_tokens) for _ in range(slots + 1)]
        _wait_for_worker(env)
        asyncio.run(_platform_run(live.ws_url, keys[:1], new_tokens))  # warm-up
        for level in levels:
            run = asyncio.run(_platform_run(live.ws_url, keys[:level], new_tokens))
            if level == slots:
                run.cancel_ms = asyncio.run(_takeover_to_next(live.ws_url, keys, new_tokens))
            rows.append(run.row("(b) llm worker", level))
            print(harness.table(HEADERS, rows[-1:]), flush=True)
    return rows


def _widget(folder: Path, new_tokens: int) -> str:
    from bots.models import Bot, WidgetKey

    key = harness.make_widget("transformers", str(folder), max_tokens=new_tokens)
    Bot.objects.filter(widget_keys__key=key).update(persona=PERSONA, answer_words=10_000)
    return str(WidgetKey.objects.get(key=key).key)  # the key as the socket takes it


def _wait_for_worker(env: dict[str, str]) -> None:
    """The worker logs `scheduler warm` once its model is loaded and warmed (LLM_WARMUP)."""
    log = Path(env["SWITCHBOARD_DATA_DIR"]) / "logs" / "bench.log"
    deadline = time.monotonic() + 900
    while "scheduler warm in" not in log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise SystemExit("the llm worker did not warm up in 15 minutes")
        time.sleep(0.5)


async def _platform_run(ws_url: str, keys: list[str], new_tokens: int) -> Run:
    from asgiref.sync import sync_to_async

    run = Run()
    results = await asyncio.gather(*(_ask(ws_url, key, f"c{i}", run) for i, key in enumerate(keys)))
    await sync_to_async(_fill_tokens)(run, dict(results))
    return run


def _fill_tokens(run: Run, reply_ids: dict[str, int]) -> None:
    from memory.conversations.models import Message

    rows = Message.objects.in_bulk(list(reply_ids.values()))
    for name, reply_id in reply_ids.items():
        run.tokens[name] = rows[reply_id].completion_tokens or 0


async def _ask(ws_url: str, key: str, name: str, run: Run) -> tuple[str, int]:
    conversation = harness.Conversation(ws_url, key)
    async with conversation:
        stamps: list[float] = []
        run.stamps[name] = stamps
        run.sends[name] = time.perf_counter()
        await conversation.conn.send(
            json.dumps(
                {"type": "message", "client_id": f"{name}-{time.time_ns()}", "text": QUESTION}
            )
        )
        while True:
            frame = json.loads(await asyncio.wait_for(conversation.conn.recv(), 600))
            if frame["type"] == "reply.delta" and frame["text"]:
                stamps.append(time.perf_counter())
            elif frame["type"] == "message" and frame["message"]["role"] == "bot":
                message = frame["message"]
                if message["text"] and not stamps:  # a socket that fell behind gets the row
                    stamps.append(time.perf_counter())
                if message["status"] in ("final", "failed"):
                    return name, int(message["id"])


async def _takeover_to_next(ws_url: str, keys: list[str], new_tokens: int) -> float:
    """All slots busy and one more waiting: a takeover of one, until the next has text."""
    from asgiref.sync import sync_to_async

    from desk.services import request_handoff
    from memory.conversations.models import Conversation as Chat

    busy, last = keys[:-1], keys[-1]
    run = Run()
    tasks = [asyncio.create_task(_ask(ws_url, k, f"t{i}", run)) for i, k in enumerate(busy)]
    while len([s for s in run.stamps.values() if s]) < len(busy):
        await asyncio.sleep(0.01)
    waiting = asyncio.create_task(_ask(ws_url, last, "next", run))
    await asyncio.sleep(0.5)
    victim = await sync_to_async(
        lambda: Chat.objects.filter(bot__widget_keys__key=busy[0]).latest("id").pk
    )()
    taken_at = time.perf_counter()
    await sync_to_async(request_handoff)(victim, "bench takeover")
    while not run.stamps.get("next"):
        await asyncio.sleep(0.001)
    freed_ms = (run.stamps["next"][0] - taken_at) * 1000
    await asyncio.gather(waiting, *tasks)
    return freed_ms


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="1,8,64")
    parser.add_argument("--new-tokens", type=int, default=64 if TINY else 128)
    parser.add_argument("--only", choices=["library", "platform"])
    args = parser.parse_args(argv)
    levels = [int(n) for n in args.levels.split(",")]

    import torch
    import transformers

    if not TINY and not torch.cuda.is_available():
        # `make bench` runs every benchmark: never build a 7B model on a CPU.
        print("gpu: no GPU here; TINY=1 python -m bench.gpu runs the CPU smoke test", flush=True)
        return
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU"
    print(
        f"gpu: {harness.machine_line()}; {device}; torch {torch.__version__}, transformers"
        f" {transformers.__version__}; {'TINY 2-layer' if TINY else 'Qwen2-7B-shaped'} model",
        flush=True,
    )
    folder = model_folder()
    rows: list[list[str]] = []
    if args.only != "platform":
        rows += library_phase(folder, levels, args.new_tokens)
    if args.only != "library":
        env = harness.prepare_services()  # Postgres and Redis only for (b)
        try:
            rows += platform_phase(folder, env, levels, args.new_tokens)
        finally:
            harness.stop_postgres()
    print("\n" + harness.table(HEADERS, rows), flush=True)


if __name__ == "__main__":
    main()
