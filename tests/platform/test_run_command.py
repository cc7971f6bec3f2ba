"""The run command and the embedded services, as processes, the way a newcomer runs them.

`python deploy/run.py` on an empty data dir starts Postgres and Redis there, serves the
demo page, and Ctrl-C leaves nothing behind. With DATABASE_URL / REDIS_URL set nothing
embedded starts.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from django.conf import settings

from bots.demo.knowledge import ARTICLES
from tests.conftest import _test_database_url, free_port

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PRINT_ENV = "import os; print(os.environ['DATABASE_URL']); print(os.environ['REDIS_URL'])"


def _bare_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """This machine's environment without the test run's services and settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "PYTHONPATH")
        and not k.startswith("SWITCHBOARD_")
    }
    env["SWITCHBOARD_DATA_DIR"] = str(data_dir)
    env.update(extra)
    return env


def _processes_using(folder: Path) -> list[str]:
    """Live processes whose command line names the folder (embedded postgres, redis-server)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(proc.info["cmdline"] or [])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if str(folder) in cmdline:
            found.append(f"{proc.info['pid']}: {cmdline[:120]}")
    return found


def _alive(pids: list[int]) -> list[str]:
    alive = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{pid}: {' '.join(proc.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            pass
    return alive


@pytest.mark.django_db
def test_with_database_and_redis_urls_set_nothing_embedded_starts(tmp_path: Path) -> None:
    database_url, redis_url = _test_database_url(), settings.REDIS_URL
    env = _bare_env(tmp_path, DATABASE_URL=database_url, REDIS_URL=redis_url)
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", PRINT_ENV],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-2:] == [database_url, redis_url]
    assert not (tmp_path / "pgdata").exists() and not (tmp_path / "redis.sock").exists()
    assert not _processes_using(tmp_path)


def test_without_urls_our_code_starts_postgres_and_redis_under_the_data_dir_and_stops_them(
    tmp_path: Path,
) -> None:
    env = _bare_env(tmp_path)
    script = (
        PRINT_ENV + "; from django.db import connection; connection.ensure_connection(); "
        "print(connection.pg_version)"
    )
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    database_url, redis_url, pg_version = out.stdout.split()[-3:]
    assert str(tmp_path / "pgdata").replace("/", "%2F") in database_url
    assert redis_url == f"unix://{tmp_path / 'redis.sock'}"
    assert int(pg_version) >= 160000
    assert (tmp_path / "pgdata" / "PG_VERSION").exists()
    deadline = time.monotonic() + 20
    while _processes_using(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _processes_using(tmp_path), "the embedded servers outlived the command"


def test_run_command_serves_the_demo_once_it_is_ready_and_ctrl_c_leaves_no_process_behind(
    tmp_path: Path,
) -> None:
    port = free_port()
    # A few topics instead of BANKING77's 10k examples: training those alone takes minutes.
    banking77 = tmp_path / "banking77"
    banking77.mkdir()
    (banking77 / "train.csv").write_text(
        "text,category\nWhere is my card?,card_arrival\nHow do I change my PIN?,change_pin\n"
    )
    env = _bare_env(tmp_path, SWITCHBOARD_PORT=str(port), SWITCHBOARD_BANKING77=str(banking77))
    proc = subprocess.Popen(
        [sys.executable, "deploy/run.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # like a terminal: our SIGINT reaches run.py alone
    )
    lines: list[str] = []
    assert proc.stdout is not None
    stdout = proc.stdout
    reader = threading.Thread(target=lambda: lines.extend(iter(stdout.readline, "")))
    reader.start()
    url = f"http://127.0.0.1:{port}/"
    children: list[int] = []
    try:
        deadline = time.monotonic() + 420
        while not any(f"Switchboard is running: {url}" in line for line in lines):
            assert proc.poll() is None, "".join(lines)[-3000:]
            assert time.monotonic() < deadline, "".join(lines)[-3000:]
            time.sleep(0.5)
        # The URL comes once every help article is indexed and the topics trained, after
        # the progress (plain lines: the output is no terminal).
        printed = "".join(lines)
        progress = [line for line in lines if "indexing help articles" in line]
        assert progress, printed[-3000:]
        assert (
            progress[-1].strip().endswith(f"] {len(ARTICLES)}/{len(ARTICLES)} · topics trained")
        ), printed[-3000:]
        assert printed.index(progress[-1]) < printed.index("Switchboard is running")
        assert "warning" not in printed
        with urllib.request.urlopen(url, timeout=30) as response:
            page = response.read().decode()
            assert response.status == 200
        assert "widget/widget.js" in page and "<script" in page
        with urllib.request.urlopen(url + "healthz", timeout=30) as response:
            assert response.status == 200

        children = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        assert len(children) >= 3, "web and workers run as child processes"
        assert _processes_using(tmp_path), "embedded postgres and redis run under the data dir"
        os.kill(proc.pid, signal.SIGINT)
        assert proc.wait(90) == 0 or proc.returncode == -signal.SIGINT
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        reader.join(10)
    deadline = time.monotonic() + 20
    while (_alive(children) or _processes_using(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.5)
    leftovers = _alive(children) + _processes_using(tmp_path)
    for line in leftovers:  # do not leave them running for the next test
        os.kill(int(line.split(":")[0]), signal.SIGKILL)
    assert not leftovers, f"outlived Ctrl-C: {leftovers}"
