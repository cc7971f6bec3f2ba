"""The bench's own platform: embedded services in .switchboard/bench, a fresh database, processes.

The same start functions as `make run` (switchboard.supervisor), on a separate data folder
and database, so a bench never touches a running platform's or the tests' data.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import ROOT

BENCH_DB = "switchboard_bench"
ORIGIN = "http://bench.localhost"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def own_services(folder: str, database: str, *, fresh: bool = True) -> dict[str, str]:
    """A benchmark's own embedded Postgres and Redis under .switchboard/<folder>, its own
    database (dropped first when `fresh`), migrated, Django set up; the processes' env."""
    os.environ["SWITCHBOARD_DATA_DIR"] = str(ROOT / ".switchboard" / folder)
    os.environ.pop("DATABASE_URL", None)
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from core import embedded
    from switchboard import supervisor

    base_url = embedded.start_postgres()
    import psycopg

    with psycopg.connect(base_url, autocommit=True) as conn:
        if fresh:
            conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database])
        if exists.fetchone() is None:
            conn.execute(f"CREATE DATABASE {database}")
    os.environ["DATABASE_URL"] = base_url.replace(f"/{embedded.DB_NAME}?", f"/{database}?", 1)
    os.environ["REDIS_URL"] = embedded.start_redis()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "switchboard.settings")
    embedded.ensure_services()  # the installation's secret key, for every process
    env = supervisor.child_env()
    subprocess.run(
        [supervisor.PYTHON, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"],
        env=env,
        check=True,
    )
    import django

    django.setup()
    return env


def prepare_services() -> dict[str, str]:
    """Embedded Postgres + Redis under .switchboard/bench; a fresh, migrated bench database."""
    # Every simulated customer connects from this one address: the per-address flood limits
    # would measure themselves, not the platform (the per-organization ones stay).
    for name in ("CONNECTS", "CONVERSATIONS", "FRAMES", "MESSAGES", "RESUMES", "TYPING"):
        os.environ.setdefault(f"SWITCHBOARD_RATE_{name}_PER_IP", "1000000/60")
    env = own_services("bench", BENCH_DB)
    import redis

    # The bench's own Redis: an earlier run cut short leaves queued tasks (for ids of the
    # dropped database) and channel-layer state behind; start from nothing.
    redis.Redis.from_url(os.environ["REDIS_URL"]).flushall()
    return env


def stop_postgres() -> None:
    """Stop the bench's embedded Postgres: through pgserver's handle (it would try again at
    exit, and log an error), then by its pid (pgserver keeps it when an earlier run was killed)."""
    from core import embedded

    embedded.stop_postgres()
    pidfile = Path(os.environ["SWITCHBOARD_DATA_DIR"]) / "pgdata" / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().split()[0])
        os.kill(pid, signal.SIGINT)  # Postgres' fast shutdown
    except (OSError, ValueError, IndexError):
        return
    deadline = time.monotonic() + 10
    while pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.1)


@dataclass
class Platform:
    ws_url: str
    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)


@contextmanager
def platform(
    env: dict[str, str],
    *,
    llm_workers: int = 1,
    worker_app: str = "switchboard",
    background: bool = False,
    llm_pool: tuple[str, int] | None = None,
) -> Iterator[Platform]:
    """A web process and one `llm` worker with `llm_workers` child processes; with
    `background`, the background worker too (labels, memory, side model work), as `make run`;
    with `llm_pool` (supervisor.llm_pool), the `llm` worker's pool kind and size instead."""
    import redis

    from switchboard import supervisor

    # Nothing left over from the previous phase: a retry queued with a countdown would
    # otherwise land on this phase's workers, and side work no bench worker consumes
    # (`llm-side`) would pile up.
    redis.Redis.from_url(env["REDIS_URL"]).flushall()
    logs = Path(env["SWITCHBOARD_DATA_DIR"]) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = open(logs / "bench.log", "ab")  # noqa: SIM115
    port = _free_port()
    tag = uuid.uuid4().hex[:6]
    procs = [
        supervisor.start_web("127.0.0.1", port, env=env, log=log),
        supervisor.start_worker(
            supervisor.LLM_QUEUES,
            concurrency=llm_pool[1] if llm_pool else llm_workers,
            pool=llm_pool[0] if llm_pool else "prefork",
            name=f"bench-llm-{tag}",
            env=env,
            log=log,
            app=worker_app,
        ),
    ]
    if background:
        procs.append(
            supervisor.start_worker(
                supervisor.BACKGROUND_QUEUES, name=f"bench-background-{tag}", env=env, log=log
            )
        )
    try:
        supervisor.wait_http(f"http://127.0.0.1:{port}/healthz", proc=procs[0])
        yield Platform(f"ws://127.0.0.1:{port}", env, procs)
    finally:
        supervisor.stop(procs)
        log.close()


def make_widget(engine: str, model: str = "", max_tokens: int = 64) -> str:
    """A fresh organization, bot and widget key; returns the key."""
    from accounts.models import Organization
    from bots.models import Bot, WidgetKey

    slug = f"bench-{uuid.uuid4().hex[:8]}"
    org = Organization.objects.create(name=slug, slug=slug)
    bot = Bot.objects.create(
        organization=org,
        name="Bench bot",
        engine=engine,
        model=model,
        max_tokens=max_tokens,
        temperature=0.0,
    )
    return WidgetKey.objects.create(bot=bot, allowed_origins=[ORIGIN]).key


@dataclass
class Sample:
    """One reply as a widget saw it, joined with what the worker stored on the row."""

    client_ttft_ms: float  # send → the first text of the reply on the socket
    frames: int  # reply.delta frames
    reply_id: int
    engine_ttft_ms: float = 0.0
    queue_wait_ms: float = 0.0
    worker_ttft_ms: float = 0.0
    completion_tokens: int = 0
    # Wall-clock stamps (one machine, one clock): the client's send, ack and first text; the
    # user row's INSERT (web) and the reply row's INSERT (the worker's claim).
    sent_at: float = 0.0
    ack_at: float = 0.0
    first_at: float = 0.0
    stored_at: float = 0.0
    claimed_at: float = 0.0

    def stages_ms(self) -> dict[str, float]:
        """Where the time to first text went, stage by stage (the stages add up)."""
        return {
            "send → message INSERT": (self.stored_at - self.sent_at) * 1000,
            "INSERT → claim (commit, Celery hop, claim)": (self.claimed_at - self.stored_at) * 1000,
            "claim → first text on the socket": (self.first_at - self.claimed_at) * 1000,
            "(INSERT → ack on the socket)": (self.ack_at - self.stored_at) * 1000,
        }


class Conversation:
    """One widget connection (the websockets asyncio client), one question at a time."""

    def __init__(self, ws_url: str, key: str) -> None:
        self.url = f"{ws_url}/ws/widget/?key={key}&visitor={uuid.uuid4().hex}"
        self.count = 0

    async def __aenter__(self) -> Conversation:
        from websockets.asyncio.client import connect

        self.conn = await connect(self.url, origin=ORIGIN, open_timeout=30)  # type: ignore[arg-type]
        hello = json.loads(await self.conn.recv())
        assert hello["type"] == "hello", hello
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.conn.close()

    async def ask(self, text: str, timeout: float = 300) -> Sample:
        self.count += 1
        sent_at = time.time()
        sent = time.perf_counter()
        ack_at = 0.0
        await self.conn.send(
            json.dumps({"type": "message", "client_id": f"b{self.count}", "text": text})
        )
        first: float | None = None
        frames = 0
        async with asyncio.timeout(timeout):
            while True:
                frame: dict[str, Any] = json.loads(await self.conn.recv())
                if frame["type"] == "error":
                    raise RuntimeError(f"the platform refused the message: {frame}")
                if frame["type"] == "ack":
                    ack_at = time.time()
                elif frame["type"] == "reply.delta":
                    frames += 1
                    if first is None:
                        first = time.perf_counter()
                elif frame["type"] == "message" and frame["message"]["role"] == "bot":
                    # A socket that fell behind sends the row's text so far instead of the
                    # deltas it covers (docs/protocol.md): that is the first text seen too.
                    message = frame["message"]
                    if first is None and message["text"]:
                        first = time.perf_counter()
                    if message["status"] in ("final", "failed"):
                        if message["status"] != "final" or first is None:
                            raise RuntimeError(f"reply did not stream: {message}")
                        return Sample(
                            (first - sent) * 1000,
                            frames,
                            message["id"],
                            sent_at=sent_at,
                            ack_at=ack_at,
                            first_at=sent_at + (first - sent),
                        )


def fill_from_rows(samples: list[Sample]) -> None:
    """Add the worker's own timings, stored on each reply row."""
    from memory.conversations.models import Message

    rows = Message.objects.select_related("reply_to").in_bulk([s.reply_id for s in samples])
    for sample in samples:
        row = rows[sample.reply_id]
        assert row.reply_to is not None
        sample.stored_at = row.reply_to.created_at.timestamp()
        sample.claimed_at = row.created_at.timestamp()
        sample.engine_ttft_ms = float(row.engine_ttft_ms or 0)
        sample.queue_wait_ms = float(row.queue_wait_ms or 0)
        sample.worker_ttft_ms = float(row.ttft_ms or 0)
        sample.completion_tokens = row.completion_tokens or 0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table (pastes straight into docs/benchmarks.md)."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "| " + " | ".join("-" * w for w in widths) + " |"
    body = [
        "| " + " | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    return "\n".join([line, rule, *body])


def machine_line() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} CPUs, load average {load[0]:.2f} at start"
