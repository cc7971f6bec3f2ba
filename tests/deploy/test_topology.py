"""Issue #14's "must show", with real processes: 2 web processes on two ports, 2 `llm`
workers, the background worker and beat, on one Postgres and one Redis (conftest.topology).

Replies come from the real SmolLM2 unless a test's name says fault injection: then the bot
uses the `slow` fault engine (a fixed text at 50 ms a word), so that a process can be killed
in the middle of a reply at a known point and the whole text checked word by word.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import time
from typing import Any

import pytest
from websockets.asyncio.client import connect

from bots.models import Bot, WidgetKey
from memory.conversations.models import Conversation, Message
from memory.conversations.services import open_conversation
from tests.conftest import make_bot, make_widget_key, new_visitor_id
from tests.desk.console_client import ConsoleClient
from tests.desk.factories import make_agent, manual_queue
from tests.widget_client import Transcript, WidgetClient

from .conftest import Topology
from .customer import ORIGIN, Customer

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def _stored(bot: Bot) -> list[tuple[int, str, str]]:
    return [
        (m.seq, m.role, m.text)
        for m in Message.objects.filter(conversation__bot=bot).order_by("seq")
    ]


def _slow_text(words: int) -> str:
    return " ".join(f"word{i}" for i in range(words))


def _check_ledger(bot: Bot, customers: list[Customer]) -> None:
    """RELIABILITY.md's ledger: every client message id stored once, each with exactly one
    final reply; each client's transcript equals the database's; seq without gaps."""
    for customer in customers:
        conversation = Conversation.objects.get(bot=bot, contact__visitor_id=customer.visitor)
        rows = list(conversation.messages.order_by("seq"))
        assert [m.seq for m in rows] == list(range(1, len(rows) + 1)), "seq has a gap or twin"
        users = [m for m in rows if m.role == "user"]
        assert sorted(m.client_id for m in users) == sorted(
            f"m{i + 1}" for i in range(customer.sent)
        )
        for user in users:
            replies = [m for m in rows if m.reply_to_id == user.pk]
            assert [r.status for r in replies] == ["final"], (user.client_id, replies)
        assert customer.seen.texts() == [(m.seq, m.role, m.text) for m in rows]


def test_a_customer_on_web_a_and_an_agent_on_web_b_see_each_others_messages_live(
    topology: Topology,
) -> None:
    bot = make_bot(max_tokens=16)
    manual_queue(bot)
    key = make_widget_key(bot)
    agent = make_agent(bot.organization)
    console = ConsoleClient(topology.url("b"), topology.ws_url("b"), agent)
    assert console.recv()["type"] == "queue"
    widget = WidgetClient(topology.ws_url("a"), key.key, new_visitor_id())
    widget.resume(0)
    widget.send({"type": "handoff.request"})
    conversation_id = widget.conversation_id
    console.recv_until(
        lambda f: f["type"] == "queue" and any(c["id"] == conversation_id for c in f["waiting"])
    )
    assert console.act("watch", conversation_id=conversation_id)["type"] == "ok"
    assert console.act("claim", conversation_id=conversation_id)["type"] == "ok"

    console.act("send", conversation_id=conversation_id, text="Hello from web B")
    shown = widget.recv_until(lambda f: f["type"] == "message" and f["message"]["role"] == "agent")
    assert shown[-1]["message"]["text"] == "Hello from web B"

    widget.send({"type": "message", "client_id": "c1", "text": "Hello from web A"})
    seen = console.recv_until(lambda f: f["type"] == "message" and f["message"]["role"] == "user")
    assert seen[-1]["message"]["text"] == "Hello from web A"
    widget.close()
    console.close()


def test_300_sockets_pinging_at_once_all_get_pong_and_stay_open(topology: Topology) -> None:
    bot = make_bot()
    key = make_widget_key(bot)
    visitors = [new_visitor_id() for _ in range(300)]
    for visitor in visitors:  # each socket joins its conversation's group: ping re-joins it
        open_conversation(bot, visitor)

    async def burst() -> tuple[int, int]:
        gate = asyncio.Semaphore(50)

        async def open_one(index: int, visitor: str) -> Any:
            web = "ab"[index % 2]
            async with gate:
                conn = await connect(
                    f"{topology.ws_url(web)}/ws/widget/?key={key.key}&visitor={visitor}",
                    origin=ORIGIN,  # type: ignore[arg-type]
                    open_timeout=60,
                )
                assert json.loads(await conn.recv())["type"] == "hello"
                return conn

        conns = await asyncio.gather(*(open_one(i, v) for i, v in enumerate(visitors)))

        async def ping(conn: Any) -> bool:
            try:
                async with asyncio.timeout(60):
                    frame = json.loads(await conn.recv())
                    return bool(frame["type"] == "pong")
            except Exception:  # noqa: BLE001 - a dropped socket is what we count
                return False

        waiters = [asyncio.ensure_future(ping(c)) for c in conns]
        await asyncio.gather(*(c.send('{"type":"ping"}') for c in conns))
        ponged = sum(await asyncio.gather(*waiters))
        # Still open: a second ping on every socket is answered too.
        waiters = [asyncio.ensure_future(ping(c)) for c in conns]
        await asyncio.gather(*(c.send('{"type":"ping"}') for c in conns))
        again = sum(await asyncio.gather(*waiters))
        await asyncio.gather(*(c.close() for c in conns))
        return ponged, again

    ponged, again = asyncio.run(burst())
    assert (ponged, again) == (300, 300)


def test_killing_web_a_mid_reply_the_widget_resumes_on_web_b_with_fault_injection(
    topology: Topology,
) -> None:
    bot = make_bot(engine="fault", model="slow", max_tokens=80)
    key = make_widget_key(bot)

    async def chat() -> Customer:
        customer = Customer([topology.ws_url("a"), topology.ws_url("b")], key.key)
        await customer.connect()
        customer.sent = 1
        customer.pending["m1"] = "Tell me about card payments."
        await customer._send_message("m1", "Tell me about card payments.")
        while not any(
            m["role"] == "bot" and len(m["text"]) > 40 for m in customer.seen.messages.values()
        ):
            await customer.next_frame()
        topology.kill_web("a")  # SIGKILL: no close frame, no clean-up
        async with asyncio.timeout(90):
            while not customer.answered("m1"):
                await customer.next_frame()
        await customer.close()
        return customer

    try:
        customer = asyncio.run(chat())
    finally:
        if "a" not in topology.webs:
            topology.start_web("a")
    assert customer.closes == [(topology.ws_url("a"), None)]  # dropped, then took web B
    reply = Message.objects.get(conversation__bot=bot, role="bot")
    assert reply.text == _slow_text(80) and reply.attempts == 1
    _check_ledger(bot, [customer])


def test_killing_the_llm_worker_holding_a_reply_completes_it_once_on_the_other_with_fault_injection(
    topology: Topology,
) -> None:
    bot = make_bot(engine="fault", model="slow", max_tokens=80)
    key = make_widget_key(bot)
    widget = WidgetClient(topology.ws_url("a"), key.key, new_visitor_id())
    seen = Transcript()
    widget.send({"type": "resume", "last_seq": 0})
    for frame in widget.recv_until(lambda f: f["type"] == "resumed"):
        seen.apply(frame)
    widget.send({"type": "message", "client_id": "m1", "text": "Tell me about refunds."})
    for frame in widget.recv_until(lambda f: f["type"] == "reply.delta", timeout=60):
        seen.apply(frame)
    reply = Message.objects.get(conversation__bot=bot, role="bot")
    holder = topology.llm_holding(int(reply.lease_token[8:16], 16))
    assert holder is not None, "the lease names a child of one of the two llm workers"
    topology.kill_llm(holder)
    killed_at = time.monotonic()
    try:
        for frame in widget.recv_until(
            lambda f: f["type"] == "message" and f["message"]["status"] == "final", timeout=90
        ):
            seen.apply(frame)
    finally:
        topology.start_llm(holder)
    print(f"worker killed -> final reply on the other: {time.monotonic() - killed_at:.1f} s")
    reply.refresh_from_db()
    assert reply.status == "final" and reply.attempts == 2
    assert reply.text == _slow_text(80)
    assert Message.objects.filter(conversation__bot=bot, role="bot").count() == 1
    assert seen.texts() == _stored(bot), "the widget shows exactly what is stored"
    widget.close()


def test_rolling_restart_in_50_live_chats_loses_doubles_reorders_nothing_with_fault_injection(
    topology: Topology,
) -> None:
    bot = make_bot(engine="fault", model="slow", max_tokens=4)
    key: WidgetKey = make_widget_key(bot)
    urls = [topology.ws_url("a"), topology.ws_url("b")]
    exits: dict[str, float] = {}

    async def restart_both() -> None:
        for web in ("a", "b"):
            exits[web] = await asyncio.to_thread(topology.terminate_web, web)
            await asyncio.to_thread(topology.start_web, web)

    async def talk(customer: Customer, restarted: asyncio.Future[None], delay: float) -> None:
        # Two questions spread over the restarts, one after them: the replies of 50 chats
        # keep coming while each process is told to go (not so many that they queue).
        await customer.connect()
        await asyncio.sleep(delay)
        await customer.ask("question 1?")
        await asyncio.sleep(delay)
        await customer.ask("question 2?")
        await restarted
        await customer.ask("question 3?")
        await customer.close()

    async def run() -> list[Customer]:
        customers = [Customer(urls, key.key, first=i % 2) for i in range(50)]
        restarted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        talks = [
            asyncio.create_task(talk(c, restarted, delay=0.2 * i)) for i, c in enumerate(customers)
        ]
        await asyncio.sleep(3)
        await restart_both()
        restarted.set_result(None)
        await asyncio.gather(*talks)
        return customers

    customers = asyncio.run(run())
    print(f"graceful exits: {exits}; closes: {sum(len(c.closes) for c in customers)}")
    codes = {code for c in customers for _, code in c.closes}
    assert codes == {1012}, codes  # told to reconnect, never dropped
    assert sum(len(c.closes) for c in customers) >= 50  # each socket moved at least once
    # Gone once its sockets are (or at the deadline, SWITCHBOARD_SHUTDOWN_GRACE_S = 15, plus
    # the cancelling of what still runs then), never hanging on.
    assert all(seconds < 15 + 3 for seconds in exits.values()), exits
    _check_ledger(bot, customers)


def _sends(log: str, job: str) -> int:
    return len(re.findall(rf"Sending due task {re.escape(job)} ", log))


def test_two_beats_started_at_once_run_each_periodic_job_once(topology: Topology) -> None:
    assert topology.beat is not None
    topology.beat.send_signal(signal.SIGTERM)  # the fixture's beat releases the lock
    topology.beat.wait(30)
    first, second = topology.start_beat("beat-1"), topology.start_beat("beat-2")
    topology.beat = second
    logs = [topology.folder / "beat-1.log", topology.folder / "beat-2.log"]
    window = 12.0
    time.sleep(window)
    texts = [path.read_text(errors="replace") for path in logs]
    sweeps = [_sends(text, "sweep-orphaned-replies") for text in texts]
    # The sweep is due every 2 s: one beat sends it ~6 times in 12 s, two would send ~12.
    assert sorted(sweeps)[0] == 0, sweeps
    assert 3 <= sum(sweeps) <= window / 2 + 1, sweeps

    # The leader dies without releasing its lock: the other takes over once it expires (3 s).
    leader, standby = (first, second) if sweeps[0] else (second, first)
    os.killpg(leader.pid, signal.SIGKILL)
    leader.wait(10)
    topology.beat = standby
    standby_log = logs[1] if leader is first else logs[0]
    before = _sends(standby_log.read_text(errors="replace"), "sweep-orphaned-replies")
    deadline = time.monotonic() + 20
    while _sends(standby_log.read_text(errors="replace"), "sweep-orphaned-replies") == before:
        assert time.monotonic() < deadline, "the standby beat never took over"
        time.sleep(0.5)
