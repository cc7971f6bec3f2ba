"""Run the whole platform on one machine: embedded services, migrations, demo data, web, workers.

The URL is printed once the demo bot is ready (its help articles indexed, its topics
trained: `manage.py wait_for_demo` shows the progress), or after a bounded wait with a warning.

`python deploy/run.py` (the README's run command) calls `main`. The test suite starts its
web server and workers through the same `start_web` / `start_worker` functions.
Ctrl-C (or SIGTERM) stops every process started here, then Redis and Postgres.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

from core import config, embedded

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
# `llm`: customers' replies, alone, so that none waits behind other work. The background
# worker: webhooks, rollups, embeddings and ingestion, and the model's side work (`llm-side`:
# memory extraction, summaries, agents' drafts), in that order (queue_order_strategy).
LLM_QUEUES = "llm"
LLM_SIDE_QUEUE = "llm-side"  # settings' CELERY_TASK_ROUTES send the side work there
BACKGROUND_QUEUES = f"celery,embeddings,{LLM_SIDE_QUEUE}"
# The background worker's niceness: on a few cores its model and embedding work must leave
# the CPU to the reply being generated (llama.cpp uses every core it is given).
BACKGROUND_NICE = 10
# Webhook deliveries wait on tenants' receivers: their own worker, so a slow one never holds
# up ingestion or labelling.
WEBHOOK_QUEUES = "webhooks"


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "platform"), str(ROOT), env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    env.setdefault("DJANGO_SETTINGS_MODULE", "switchboard.settings")
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    env.update(extra)
    return env


def start_web(
    host: str, port: int, *, env: dict[str, str] | None = None, log: IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    """The ASGI server (HTTP + websockets); frames over 64 KiB are refused with close 1009."""
    env = env or child_env()
    # The child's own setting: a caller's `env` (the tests', a benchmark's) may set it.
    grace = config.env_int("SWITCHBOARD_SHUTDOWN_GRACE_S", 20, minimum=1, environ=env)
    return subprocess.Popen(
        [
            PYTHON,
            "-m",
            "uvicorn",
            "switchboard.asgi:application",
            "--host",
            host,
            "--port",
            str(port),
            "--ws-max-size",
            str(64 * 1024),
            "--no-access-log",
            # Forwarded headers are ours to judge (core.proxies, SWITCHBOARD_TRUSTED_PROXIES).
            "--no-proxy-headers",
            "--lifespan",
            "off",
            # SIGTERM: stop accepting, close every socket with 1012 (the widget and console
            # reconnect, to another process behind the proxy), wait for their handlers, exit.
            "--timeout-graceful-shutdown",
            str(grace),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT if log else None,
        start_new_session=True,
    )


def start_worker(
    queues: str,
    *,
    concurrency: int = 1,
    name: str = "worker",
    env: dict[str, str] | None = None,
    log: IO[bytes] | None = None,
    app: str = "switchboard",
    nice: int = 0,
    pool: str = "prefork",
) -> subprocess.Popen[bytes]:
    """A Celery worker process; `llm` workers load their model once per child process.

    `nice` lowers the CPU priority of the worker and of the children it forks (nice(1), not
    a preexec_fn: that is not safe in a process with threads, such as the tests').
    `pool="threads"`: one process runs `concurrency` tasks at once (`llm_pool`).
    """
    niced = ["nice", "-n", str(nice)] if nice else []
    return subprocess.Popen(
        [
            *niced,
            PYTHON,
            "-m",
            "celery",
            "-A",
            app,
            "worker",
            "-Q",
            queues,
            "-c",
            str(concurrency),
            "-P",
            pool,
            "-n",
            f"{name}@%h",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env or child_env(),
        stdout=log,
        stderr=subprocess.STDOUT if log else None,
        start_new_session=True,
    )


def llm_pool(workers: int, concurrency: int) -> tuple[str, int]:
    """The `llm` worker's pool and size (SWITCHBOARD_LLM_WORKERS, SWITCHBOARD_LLM_CONCURRENCY).

    Concurrency 1: prefork, `workers` children each generating one reply with its own copy
    of the model (llama.cpp on the CPU). More: one process with that many threads, so that N
    replies share one loaded model and its scheduler (transformers' continuous batching, or
    an OpenAI-compatible server's). Tasks stay acks-late either way, and the reply's claim
    and lease are per task (bots/services.py).
    """
    if concurrency > 1:
        return "threads", concurrency
    return "prefork", workers


def start_beat(
    *, env: dict[str, str] | None = None, log: IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    """Celery beat: the periodic tasks of settings.CELERY_BEAT_SCHEDULE (rollups, webhooks).

    Its scheduler (core.beat) keeps no file and sends only while it holds the leader
    lock, so any number of beats may run: one sends."""
    return subprocess.Popen(
        [PYTHON, "-m", "celery", "-A", "switchboard", "beat", "-l", "INFO"],
        cwd=ROOT,
        env=env or child_env(),
        stdout=log,
        stderr=subprocess.STDOUT if log else None,
        start_new_session=True,
    )


def stop(procs: list[subprocess.Popen[bytes]], timeout: float = 10) -> None:
    for proc in procs:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_http(url: str, timeout: float = 60, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own URL
                if response.status == 200:
                    return
        except OSError:
            pass
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"{url}: server exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise SystemExit(f"{url} did not answer within {timeout:.0f} s")
        time.sleep(0.2)


def wait_for_demo(
    procs: list[subprocess.Popen[bytes]], env: dict[str, str], timeout: float
) -> bool | None:
    """Show the demo's first indexing and training until done: True once ready, False after
    `timeout` seconds, None as soon as a platform process exits (nothing would finish it).

    `manage.py wait_for_demo` draws the progress on our own stdout; it runs in its own
    session, so Ctrl-C reaches us alone and we stop it with the rest.
    """
    waiter = subprocess.Popen(
        [PYTHON, str(ROOT / "manage.py"), "wait_for_demo", f"--timeout={timeout}"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    try:
        while waiter.poll() is None:
            if any(proc.poll() is not None for proc in procs):
                return None
            time.sleep(0.5)
        return waiter.returncode == 0
    finally:
        stop([waiter])


def main() -> None:
    host = config.env_str("SWITCHBOARD_HOST", "127.0.0.1")
    port = config.env_int("SWITCHBOARD_PORT", 8000, minimum=1, maximum=65535)
    llm_workers = config.env_int("SWITCHBOARD_LLM_WORKERS", 1, minimum=1)
    llm_kind, llm_size = llm_pool(
        llm_workers, config.env_int("SWITCHBOARD_LLM_CONCURRENCY", 1, minimum=1)
    )
    ready_timeout = config.env_int("SWITCHBOARD_DEMO_READY_TIMEOUT_S", 600, minimum=0)
    embedded.ensure_services()
    env = child_env()
    manage = [PYTHON, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], env=env, check=True)
    origins = [f"http://{host}:{port}", f"http://localhost:{port}", f"http://127.0.0.1:{port}"]
    subprocess.run(
        [*manage, "seed_demo", *[f"--origin={o}" for o in dict.fromkeys(origins)]],
        env=env,
        check=True,
    )

    procs = [
        start_web(host, port, env=env),
        start_worker(LLM_QUEUES, concurrency=llm_size, pool=llm_kind, name="llm", env=env),
        start_worker(
            BACKGROUND_QUEUES, concurrency=1, name="background", env=env, nice=BACKGROUND_NICE
        ),
        start_worker(WEBHOOK_QUEUES, concurrency=2, name="webhooks", env=env),
        start_beat(env=env),
    ]

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)  # also when started in the background (SIG_IGN)
    try:
        wait_http(f"http://{host}:{port}/healthz", proc=procs[0])
        # The URL only once the demo answers as seeded (its knowledge and topics ready).
        ready = wait_for_demo(procs, env, ready_timeout)
        if ready is False:
            print(
                f"\n  warning: the demo's help articles and topics are still not ready after"
                f" {ready_timeout} s. The background worker goes on with them; until it is"
                " done the demo's answers may miss them.",
                flush=True,
            )
        if ready is not None:
            print(
                f"\n  Switchboard is running: http://{host}:{port}/"
                "   (admin: /admin/, Ctrl-C stops it)\n",
                flush=True,
            )
            if config.env_bool("SWITCHBOARD_DEMO", False):
                print(
                    "  !!! DEMO MODE (SWITCHBOARD_DEMO): console logins with public passwords"
                    " (README). Never expose this server.\n",
                    flush=True,
                )
            while all(proc.poll() is None for proc in procs):
                time.sleep(0.5)
        print("a platform process exited; stopping the rest", file=sys.stderr)
    except KeyboardInterrupt:
        print("\nstopping…", flush=True)
    finally:
        stop(procs)
