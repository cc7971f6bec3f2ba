"""Many conversations at once through one `llm` worker and one shared scheduler (issue #13).

This module runs its own web process, Redis and `llm` worker (as tests/bots/test_reply_faults.py
does), the worker with SWITCHBOARD_LLM_CONCURRENCY threads sharing one loaded model: a tiny
random Qwen2 (tests/bots/conftest.py) on the transformers engine, whose requests all go
through transformers' continuous batching (bots/engines/scheduler.py). Each conversation is a
real widget socket; what the tests assert is what those widgets show. The tiny model samples
(SWITCHBOARD_LLM_TEMPERATURE=1): greedy, a random model repeats one word and the reply guard
cuts it at once.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from django.test import Client

from bots import queue_depth
from bots.engines import get_engine
from bots.engines.transformers import FAULT_MARKER
from bots.models import Bot
from bots.services import FALLBACK_TEXT
from desk.services import request_handoff
from memory.conversations.models import Message
from switchboard import supervisor
from tests.bots.conftest import build_tiny_qwen2
from tests.bots.test_reply_faults import FaultPlatform
from tests.conftest import LOG_DIR, _test_database_url, make_bot, make_widget_key, new_visitor_id
from tests.widget_client import Transcript, WidgetClient, is_final_reply

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CONCURRENCY = 12  # the worker's threads: more than the scheduler's slots
SLOTS = 8  # SWITCHBOARD_LLM_BATCH_SLOTS: requests in the batch at once
# The guard cuts a reply at a figure it was not given; a random model says digits and number
# words now and then, so the persona gives them all.
PERSONA = "You are a support bot. " + " ".join(str(n) for n in range(21)) + " 30 40 50 100 1000."


class SharedPlatform(FaultPlatform):
    def start_worker(self, **overrides: str) -> None:
        """The `llm` worker on a thread pool (supervisor.llm_pool), ready once it logs so."""
        self.stop_worker()
        self.starts += 1
        log_path = self.folder / f"worker-{self.starts}.log"
        pool, size = supervisor.llm_pool(1, CONCURRENCY)
        self.worker = supervisor.start_worker(
            "llm",
            concurrency=size,
            pool=pool,
            name=f"shared{self.starts}-{uuid.uuid4().hex[:6]}",
            env={**self.env, **overrides},
            log=open(log_path, "ab"),  # noqa: SIM115
        )
        deadline = time.monotonic() + 90
        while " ready." not in log_path.read_text(errors="replace"):
            assert self.worker.poll() is None, log_path.read_text()[-3000:]
            assert time.monotonic() < deadline, "worker did not get ready"
            time.sleep(0.1)


@pytest.fixture(scope="module")
def tiny_qwen2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tests' tiny random Qwen2 with a long context, so that long replies fit."""
    return build_tiny_qwen2(tmp_path_factory.mktemp("tiny-qwen2-long"), max_positions=8192)


@pytest.fixture(scope="module")
def shared(
    django_db_setup: None, django_db_blocker: Any, tiny_qwen2: Path
) -> Iterator[SharedPlatform]:
    folder = LOG_DIR / f"shared-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    platform = SharedPlatform(folder, env={})
    platform.start_redis()
    platform.env = supervisor.child_env(
        DATABASE_URL=_test_database_url(),
        REDIS_URL=f"unix://{platform.socket}",
        DJANGO_SETTINGS_MODULE="switchboard.settings",
        SWITCHBOARD_FAULT_INJECTION="1",
        SWITCHBOARD_MODELS=json.dumps(
            {"tiny-qwen2": {"engine": "transformers", "model": str(tiny_qwen2)}}
        ),
        SWITCHBOARD_LLM_CONCURRENCY=str(CONCURRENCY),
        SWITCHBOARD_LLM_BATCH_SLOTS=str(SLOTS),
        SWITCHBOARD_LLM_KV_BLOCKS="512",
        SWITCHBOARD_LLM_CONTEXT_TOKENS="8192",
        SWITCHBOARD_LLM_MAX_BATCH_TOKENS="1024",
        SWITCHBOARD_LLM_TEMPERATURE="1.0",
        SWITCHBOARD_LLM_WARMUP="1",
        SWITCHBOARD_REPLY_SWEEP_AFTER_S="3600",
        SWITCHBOARD_REPLY_SWEEP_INTERVAL_S="0",
        SWITCHBOARD_RATE_CONVERSATIONS_PER_IP="1000/60",
        SWITCHBOARD_RATE_CONNECTS_PER_IP="1000/60",
    )
    try:
        platform.start_web()
        platform.start_worker()
        yield platform
    finally:
        platform.stop_worker()
        supervisor.stop([p for p in (platform.web, platform.redis) if p])


@dataclass
class Chat:
    """One customer's widget, followed on its own thread: when each thing became visible."""

    bot: Bot
    client: WidgetClient
    seen: Transcript = field(default_factory=Transcript)
    first_text_at: float | None = None
    final_at: float | None = None
    final: dict[str, Any] | None = None
    error: BaseException | None = None
    thread: threading.Thread | None = None

    def ask(self, text: str) -> None:
        self.client.send({"type": "message", "client_id": uuid.uuid4().hex, "text": text})
        self.thread = threading.Thread(target=self._follow, daemon=True)
        self.thread.start()

    def _follow(self) -> None:
        try:
            deadline = time.monotonic() + 240
            while self.final is None:
                frame = self.client.recv(timeout=max(0.1, deadline - time.monotonic()))
                self.seen.apply(frame)
                if frame["type"] == "reply.delta" and frame["text"] and not self.first_text_at:
                    self.first_text_at = time.monotonic()
                if is_final_reply(frame):
                    self.final_at = time.monotonic()
                    self.final = frame["message"]
        except BaseException as exc:  # noqa: BLE001 - reported by wait()
            self.error = exc

    def wait(self) -> dict[str, Any]:
        assert self.thread is not None
        self.thread.join(260)
        assert self.error is None, self.error
        assert self.final is not None
        return self.final

    @property
    def reply(self) -> Message:
        return Message.objects.get(conversation__bot=self.bot, role="bot")


def _open(platform: SharedPlatform, tiny_qwen2: Path, max_tokens: int) -> Chat:
    bot = make_bot(
        engine="transformers",
        model=str(tiny_qwen2),
        persona=PERSONA,
        max_tokens=max_tokens,
        answer_words=1000,
    )
    key = make_widget_key(bot)
    client = WidgetClient(platform.ws_url, key.key, new_visitor_id())
    client.send({"type": "resume", "last_seq": 0})
    client.recv_until(lambda f: f["type"] == "resumed", timeout=10)
    return Chat(bot, client)


def _reported_depth(platform: SharedPlatform, wanted: Any, timeout: float = 15) -> dict[str, int]:
    """The depth the worker last wrote for the tiny model, once it matches `wanted`."""
    client = redis.Redis(unix_socket_path=str(platform.socket))
    deadline = time.monotonic() + timeout
    while True:
        for raw in client.hgetall(queue_depth.KEY).values():
            for depth in json.loads(raw)["models"].values():
                if wanted(depth):
                    return dict(depth)
        assert time.monotonic() < deadline, client.hgetall(queue_depth.KEY)
        time.sleep(0.2)


def test_eight_conversations_at_once_all_stream_interleaved_through_one_shared_scheduler(
    shared: SharedPlatform, tiny_qwen2: Path
) -> None:
    chats = [_open(shared, tiny_qwen2, max_tokens=96) for _ in range(SLOTS)]
    for index, chat in enumerate(chats):
        chat.ask(f"Question {index}: how do I change the address on my account?")
    finals = [chat.wait() for chat in chats]

    # Interleaved, not one after another: every reply had published its first text before
    # any reply ended. Timed by the worker (each row's claim, time to first text and total),
    # not by the widgets' reader threads, which a loaded machine can leave a burst behind.
    replies = [chat.reply for chat in chats]
    first_texts = [r.created_at + timedelta(milliseconds=r.ttft_ms or 0) for r in replies]
    finished = [r.created_at + timedelta(milliseconds=r.total_ms or 0) for r in replies]
    assert all(r.ttft_ms is not None and r.total_ms for r in replies)
    assert max(first_texts) < min(finished), (first_texts, finished)
    for chat, final, reply in zip(chats, finals, replies, strict=True):
        assert final["status"] == "final" and final["text"], final
        # Streamed to the widget in pieces, not in one block at the end.
        deltas = [f for f in chat.client.frames if f["type"] == "reply.delta"]
        assert len(deltas) >= 2, deltas
        assert reply.completion_tokens > 1
        assert chat.seen.texts()[-1][2] == reply.text, "the widget shows what is stored"
        chat.client.close()


def test_a_takeover_frees_its_slot_for_the_next_in_line_while_the_others_go_on(
    shared: SharedPlatform, tiny_qwen2: Path
) -> None:
    # Long replies: SLOTS in the batch, one more waiting in line for a slot.
    chats = [_open(shared, tiny_qwen2, max_tokens=1200) for _ in range(SLOTS)]
    for chat in chats:
        chat.ask("Tell me everything about your delivery options.")
    deadline = time.monotonic() + 120
    while not all(c.first_text_at for c in chats):
        assert time.monotonic() < deadline, "not all eight started"
        assert all(c.error is None for c in chats)
        time.sleep(0.05)
    waiting = _open(shared, tiny_qwen2, max_tokens=32)
    waiting.ask("And where is my parcel?")
    time.sleep(2)
    assert waiting.first_text_at is None, "the ninth waits while all slots are taken"
    assert all(c.final_at is None for c in chats), "the eight are still going"
    # The operator sees it: the worker reports its queue depth (bots.queue_depth).
    assert _reported_depth(shared, lambda d: d["active"] == SLOTS and d["waiting"] == 1)

    taken = chats[0]
    request_handoff(taken.reply.conversation_id, "customer asked for a person")
    taken_at = time.monotonic()
    waiting.wait()
    assert waiting.first_text_at is not None
    # The ninth got its slot and its whole reply while the other seven were still going.
    others = chats[1:]
    assert all(c.final_at is None or c.final_at > waiting.final_at for c in others)  # type: ignore[operator]
    assert waiting.first_text_at - taken_at < 30
    # Its wait for a slot (about the 2 s until the takeover) is recorded with the reply.
    assert waiting.reply.queue_wait_ms is not None and waiting.reply.queue_wait_ms >= 1000
    # The taken-over reply stopped where the handoff froze it.
    frozen = taken.reply.text
    time.sleep(1)
    assert taken.reply.text == frozen
    for chat in others:
        final = chat.wait()
        assert final["status"] == "final" and final["text"]
    for chat in [*chats, waiting]:
        chat.client.close()


def test_an_injected_engine_error_fails_one_reply_and_not_the_others_with_fault_injection(
    shared: SharedPlatform, tiny_qwen2: Path
) -> None:
    chats = [_open(shared, tiny_qwen2, max_tokens=64) for _ in range(4)]
    broken = chats[1]
    for chat in chats:
        text = "Where is my parcel?"
        chat.ask(f"{text} {FAULT_MARKER}" if chat is broken else text)
    finals = [chat.wait() for chat in chats]

    assert finals[1]["status"] == "failed" and finals[1]["text"] == FALLBACK_TEXT
    assert "injected engine error" in broken.reply.error
    # Retried like any engine error (3 attempts), then the fallback line.
    assert broken.reply.attempts == 3
    for chat, final in zip(chats, finals, strict=True):
        if chat is not broken:
            assert final["status"] == "final" and final["text"] != FALLBACK_TEXT
        chat.client.close()
    assert shared.worker is not None and shared.worker.poll() is None, "the worker lives on"


def test_the_admin_shows_each_llm_workers_queue_depth_to_superusers(
    tiny_qwen2: Path, admin_client: Client
) -> None:
    engine = get_engine("transformers", str(tiny_qwen2))
    ticket = engine.scheduler.submit([1, 2, 3], max_new_tokens=2)  # type: ignore[attr-defined]
    for _ in ticket.tokens():
        pass
    queue_depth.report_once()  # what a thread-pool llm worker does every 5 s

    assert queue_depth.summary_lines(), queue_depth.current()
    page = admin_client.get("/admin/bots/bot/").content.decode()
    assert f"Model worker {queue_depth.worker_id()}, {tiny_qwen2.name}: 0 generating" in page
    assert "served 1" in page
