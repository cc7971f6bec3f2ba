"""The embedded Redis keeps its data across a restart (append-only file): issue #11, item 14."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis

from switchboard import supervisor

SCRIPT = """
import sys
from core import embedded
url = embedded.start_redis()
print(url, flush=True)
sys.stdin.read()
"""


def _start(data_dir: Path) -> tuple[subprocess.Popen[str], redis.Redis]:
    env = supervisor.child_env(SWITCHBOARD_DATA_DIR=str(data_dir))
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    assert url.startswith("unix://"), url
    return proc, redis.Redis(unix_socket_path=url.removeprefix("unix://"))


def _kill_redis(client: redis.Redis) -> None:
    pid = int(client.info("server")["process_id"])
    os.kill(pid, signal.SIGKILL)  # no chance to save on the way out


def test_the_embedded_redis_keeps_queued_work_across_a_crash(tmp_path: Path) -> None:
    proc, client = _start(tmp_path)
    try:
        assert client.config_get("appendonly")["appendonly"] == "yes"
        client.lpush("llm", "a queued task")
        client.execute_command("BGREWRITEAOF")
        deadline = time.monotonic() + 10
        while client.info("persistence")["aof_rewrite_in_progress"] and time.monotonic() < deadline:
            time.sleep(0.05)
        _kill_redis(client)
    finally:
        proc.kill()
        proc.wait()
    proc, client = _start(tmp_path)
    try:
        assert client.lrange("llm", 0, -1) == [b"a queued task"]
    finally:
        _kill_redis(client)
        proc.kill()
        proc.wait()
