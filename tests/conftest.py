"""Shared fixtures: real Postgres + pgvector, real Redis, real web and Celery worker processes.

`platform_url` starts the ASGI server and an `llm` Celery worker (real SmolLM2) against
the test database, through the same functions `make run` uses.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.conf import settings
from django.core.management.base import CommandError
from django.db.utils import OperationalError
from django.test import testcases

from accounts.models import Organization
from bots.engines import close_engines
from bots.models import Bot, WidgetKey
from core import embedded
from switchboard import supervisor
from tests.browser import chromium

if TYPE_CHECKING:
    from playwright.sync_api import Browser

_flush = testcases.TransactionTestCase._fixture_teardown


def _flush_retrying_on_deadlock(self: testcases.TransactionTestCase) -> None:
    """Flush after a transactional test, again if it deadlocked with a live worker.

    The live platform's workers may still be finishing a test's background work (labelling,
    memory, rollups) when the tables are truncated; Postgres then breaks the deadlock by
    failing the TRUNCATE. The rows are the finished test's, so flushing again is right.
    """
    for attempt in range(5):
        try:
            _flush(self)
            return
        except CommandError as error:
            if not isinstance(error.__cause__, OperationalError) or attempt == 4:
                raise
            time.sleep(0.5 * (attempt + 1))


testcases.TransactionTestCase._fixture_teardown = _flush_retrying_on_deadlock  # type: ignore[method-assign]

LOG_DIR = Path(os.environ["SWITCHBOARD_DATA_DIR"]) / "logs"
# The live platform's llm worker appends each prompt its engine is given here (JSON lines).
PROMPT_LOG = LOG_DIR / "prompts.jsonl"


def prompts_for(reply_to: int) -> list[list[dict[str, str]]]:
    """The messages the engine was given for the reply to message `reply_to`, per attempt."""
    if not PROMPT_LOG.exists():
        return []
    lines = (json.loads(line) for line in PROMPT_LOG.read_text().splitlines() if line)
    return [line["messages"] for line in lines if line["question_id"] == reply_to]


def pytest_configure(config: pytest.Config) -> None:
    """The suite's embedded Postgres and Redis, where the settings expect them (the settings
    only read the URLs: core.embedded)."""
    embedded.ensure_services()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Engines loaded in this process are closed while pytest still captures their logs."""
    close_engines()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# The OpenAI-compatible model server the live `llm` worker is configured with, as in a
# deployment; tests/bots/conftest.py starts it (llama-cpp-python's server) on this port.
OPENAI_TEST_PORT = free_port()
OPENAI_TEST_API_KEY = "test-openai-key"


def _test_database_url() -> str:
    db = settings.DATABASES["default"]
    host = db["HOST"]
    name = db["NAME"]  # after django_db_setup this is the test database
    if host.startswith("/"):
        from urllib.parse import quote

        return f"postgresql://{db['USER']}:{db['PASSWORD']}@/{name}?host={quote(host, safe='')}"
    return f"postgresql://{db['USER']}:{db['PASSWORD']}@{host}:{db['PORT']}/{name}"


@dataclass
class LivePlatform:
    url: str
    ws_url: str
    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]]


@pytest.fixture(scope="session")
def live_platform(django_db_setup: None, django_db_blocker: object) -> Iterator[LivePlatform]:
    """A web server and the llm, background and webhook workers, as processes, on the test DB."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    PROMPT_LOG.unlink(missing_ok=True)  # a new test database numbers messages from 1 again
    port = free_port()
    env = supervisor.child_env(
        DATABASE_URL=_test_database_url(),
        REDIS_URL=settings.REDIS_URL,
        DJANGO_SETTINGS_MODULE="switchboard.settings",
        SWITCHBOARD_OPENAI_BASE_URL=f"http://127.0.0.1:{OPENAI_TEST_PORT}/v1",
        SWITCHBOARD_OPENAI_API_KEY=OPENAI_TEST_API_KEY,
        # No orphan sweeps from this shared worker: it would re-enqueue the fault tests'
        # messages (tests/bots/test_reply_faults.py) onto the wrong broker.
        SWITCHBOARD_REPLY_SWEEP_AFTER_S="3600",
        SWITCHBOARD_REPLY_SWEEP_INTERVAL_S="0",
        # What the engine is given, for the tests that check a prompt (prompts_for).
        SWITCHBOARD_PROMPT_LOG=str(PROMPT_LOG),
    )
    web_log = open(LOG_DIR / "web.log", "ab")  # noqa: SIM115
    worker_log = open(LOG_DIR / "worker.log", "ab")  # noqa: SIM115
    tag = uuid.uuid4().hex[:6]
    procs = [
        supervisor.start_web("127.0.0.1", port, env=env, log=web_log),
        supervisor.start_worker(supervisor.LLM_QUEUES, name=f"llm-{tag}", env=env, log=worker_log),
        supervisor.start_worker(
            supervisor.BACKGROUND_QUEUES,
            name=f"background-{tag}",
            env=env,
            log=worker_log,
            nice=supervisor.BACKGROUND_NICE,
        ),
        supervisor.start_worker(
            supervisor.WEBHOOK_QUEUES, name=f"webhooks-{tag}", env=env, log=worker_log
        ),
    ]
    try:
        supervisor.wait_http(f"http://127.0.0.1:{port}/healthz", proc=procs[0])
        yield LivePlatform(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}", env, procs)
    finally:
        supervisor.stop(procs)
        web_log.close()
        worker_log.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium for a module of browser tests (tests/browser.py)."""
    with chromium() as launched:
        yield launched


# Factories: plain functions through the real models.


def make_org(slug: str | None = None) -> Organization:
    slug = slug or f"org-{uuid.uuid4().hex[:8]}"
    return Organization.objects.create(name=slug.title(), slug=slug)


def make_bot(org: Organization | None = None, **overrides: object) -> Bot:
    fields: dict[str, object] = {"name": "Test bot", "max_tokens": 48, "temperature": 0.0}
    fields.update(overrides)
    return Bot.objects.create(organization=org or make_org(), **fields)


def make_widget_key(bot: Bot, origins: list[str] | None = None) -> WidgetKey:
    return WidgetKey.objects.create(bot=bot, allowed_origins=origins or ["https://shop.example"])


def new_visitor_id() -> str:
    return uuid.uuid4().hex
