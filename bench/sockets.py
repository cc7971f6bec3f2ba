"""Many widget sockets over two web processes (issue #14): steady load, a burst, the ceiling.

N sockets (default 500) connect at a steady rate, alternating between two web processes;
each resumes, then sends a message every `--interval` s for `--duration` s on the bench
engine (bench/engine.py). Reported: connect+resume and ack latency p50/p99, memory per
socket (the web processes' RSS growth / sockets), lost (no ack or no final reply),
duplicated and reordered messages; a burst where every open socket pings at the same
instant (dropped = no pong); then the connect rate is raised until connect+resume p99 passes
250 ms. The load client runs on the same machine.

    python -m bench.sockets [--sockets 500] [--duration 300] [--interval 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import psutil

from bench import harness
from bench.harness import ORIGIN, percentile, table

GOAL_CONNECT_P99_MS = 250.0


class Socket:
    def __init__(self, ws_url: str, key: str) -> None:
        self.url = f"{ws_url}/ws/widget/?key={key}&visitor={uuid.uuid4().hex}"
        self.acks: list[float] = []
        self.ack_seqs: list[int] = []
        self.finals: set[int] = set()
        self.sent = 0
        self.errors = 0
        self.waiters: dict[str, asyncio.Future[float]] = {}
        self.pong: asyncio.Future[None] | None = None

    async def open(self) -> float:
        from websockets.asyncio.client import connect

        started = time.perf_counter()
        self.conn = await connect(self.url, origin=ORIGIN, open_timeout=60)  # type: ignore[arg-type]
        assert json.loads(await self.conn.recv())["type"] == "hello"
        await self.conn.send('{"type":"resume","last_seq":0}')
        while json.loads(await self.conn.recv())["type"] != "resumed":
            pass
        elapsed = (time.perf_counter() - started) * 1000
        self.reader = asyncio.create_task(self.read())
        return elapsed

    async def read(self) -> None:
        async for raw in self.conn:
            frame: dict[str, Any] = json.loads(raw)
            kind = frame["type"]
            if kind == "ack":
                self.ack_seqs.append(int(frame["seq"]))
                waiter = self.waiters.pop(frame["client_id"], None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(time.perf_counter())
            elif kind == "message" and frame["message"]["role"] == "bot":
                if frame["message"]["status"] == "final":
                    self.finals.add(int(frame["message"]["reply_to"]))
            elif kind == "pong" and self.pong is not None and not self.pong.done():
                self.pong.set_result(None)
            elif kind == "error":
                self.errors += 1

    async def say(self) -> None:
        self.sent += 1
        client_id = f"s{self.sent}"
        waiter: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.waiters[client_id] = waiter
        started = time.perf_counter()
        await self.conn.send(json.dumps({"type": "message", "client_id": client_id, "text": "hi"}))
        try:
            self.acks.append((await asyncio.wait_for(waiter, 30) - started) * 1000)
        except TimeoutError:
            self.waiters.pop(client_id, None)

    async def ping(self) -> bool:
        self.pong = asyncio.get_running_loop().create_future()
        await self.conn.send('{"type":"ping"}')
        try:
            await asyncio.wait_for(self.pong, 60)
            return True
        except TimeoutError:
            return False

    async def close(self) -> None:
        await self.conn.close()
        self.reader.cancel()


async def open_at(
    urls: list[str], key: str, count: int, rate: float
) -> tuple[list[Socket], list[float]]:
    """`count` sockets at `rate` per second, alternating between the web processes."""
    sockets = [Socket(urls[i % len(urls)], key) for i in range(count)]
    started = time.perf_counter()

    async def one(index: int) -> float:
        await asyncio.sleep(max(0.0, started + index / rate - time.perf_counter()))
        return await sockets[index].open()

    latencies = await asyncio.gather(*(one(i) for i in range(count)))
    return sockets, list(latencies)


def rss(procs: list[Any]) -> int:
    return sum(psutil.Process(p.pid).memory_info().rss for p in procs)


async def steady(
    urls: list[str], key: str, webs: list[Any], args: argparse.Namespace
) -> dict[str, Any]:
    before = rss(webs)
    sockets, connects = await open_at(urls, key, args.sockets, args.connect_rate)
    await asyncio.sleep(2)
    per_socket = (rss(webs) - before) / len(sockets)

    async def talk(index: int, sock: Socket) -> None:
        await asyncio.sleep(args.interval * index / len(sockets))  # a steady rate overall
        deadline = time.monotonic() + args.duration
        while time.monotonic() < deadline:
            next_at = time.monotonic() + args.interval
            await sock.say()
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    await asyncio.gather(*(talk(i, s) for i, s in enumerate(sockets)))
    await asyncio.sleep(10)  # the last replies
    pongs = await asyncio.gather(*(s.ping() for s in sockets))  # every socket at once
    result = {"sockets": sockets, "connects": connects, "per_socket": per_socket, "pongs": pongs}
    await asyncio.gather(*(s.close() for s in sockets))
    return result


def ledger(sockets: list[Socket]) -> tuple[int, int, int, int]:
    """(sent, lost, duplicated, reordered) against the database."""
    from memory.conversations.models import Message

    sent = sum(s.sent for s in sockets)
    stored = Message.objects.filter(role="user").count()
    replied = Message.objects.filter(role="bot", status="final").count()
    duplicated = max(0, stored - sent)
    lost = sum(s.sent - len(s.acks) for s in sockets) + max(0, stored - replied)
    lost += sum(len(s.ack_seqs) - len(s.finals) for s in sockets if len(s.finals) < len(s.ack_seqs))
    reordered = sum(1 for s in sockets if s.ack_seqs != sorted(s.ack_seqs))
    return sent, lost, duplicated, reordered


async def ceiling(urls: list[str], key: str, rates: list[int], count: int) -> list[list[str]]:
    rows = []
    for rate in rates:
        sockets, connects = await open_at(urls, key, count, rate)
        p50, p99 = percentile(connects, 50), percentile(connects, 99)
        rows.append(
            [
                f"{rate}/s",
                str(count),
                f"{p50:.0f}",
                f"{p99:.0f}",
                "yes" if p99 <= GOAL_CONNECT_P99_MS else "no",
            ]
        )
        await asyncio.gather(*(s.close() for s in sockets))
        await asyncio.sleep(3)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--sockets", type=int, default=500)
    parser.add_argument("--duration", type=float, default=300, help="seconds of steady load")
    parser.add_argument(
        "--interval", type=float, default=30, help="seconds between a socket's messages"
    )
    parser.add_argument("--connect-rate", type=float, default=100, help="new sockets per second")
    parser.add_argument("--ceiling-rates", default="100,200,400", help="connect rates to try")
    parser.add_argument("--ceiling-sockets", type=int, default=300)
    args = parser.parse_args(argv)

    env = harness.prepare_services()
    env["SWITCHBOARD_RATE_MESSAGES"] = "1000"  # one message per socket per interval, never refused
    from switchboard import supervisor

    print(harness.machine_line(), flush=True)
    key = harness.make_widget("bench", "8x5", max_tokens=8)
    logs = Path(env["SWITCHBOARD_DATA_DIR"]) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = open(logs / "bench-sockets.log", "ab")  # noqa: SIM115
    ports = [harness._free_port(), harness._free_port()]
    webs = [supervisor.start_web("127.0.0.1", port, env=env, log=log) for port in ports]
    workers = [
        supervisor.start_worker(
            supervisor.LLM_QUEUES,
            concurrency=2,
            name=f"bench-llm-{uuid.uuid4().hex[:6]}",
            env=env,
            log=log,
            app="bench.worker",
        )
    ]
    try:
        for port, web in zip(ports, webs, strict=True):
            supervisor.wait_http(f"http://127.0.0.1:{port}/healthz", proc=web)
        urls = [f"ws://127.0.0.1:{port}" for port in ports]
        result = asyncio.run(steady(urls, key, webs, args))
        sent, lost, duplicated, reordered = ledger(result["sockets"])
        acks = [a for s in result["sockets"] for a in s.acks]
        connects = result["connects"]
        errors = sum(s.errors for s in result["sockets"])
        print(
            f"\n{args.sockets} sockets over 2 web processes, a message every"
            f" {args.interval:.0f} s each for {args.duration:.0f} s (bench engine 8x5)\n"
        )
        print(
            table(
                [
                    "sockets",
                    "connect+resume p50/p99 ms",
                    "messages",
                    "ack p50 ms",
                    "ack p99 ms",
                    "lost",
                    "duplicated",
                    "reordered",
                    "error frames",
                    "memory/socket KiB",
                    "burst: pinged",
                    "dropped",
                ],
                [
                    [
                        str(args.sockets),
                        f"{percentile(connects, 50):.0f} / {percentile(connects, 99):.0f}",
                        str(sent),
                        f"{percentile(acks, 50):.0f}",
                        f"{percentile(acks, 99):.0f}",
                        str(lost),
                        str(duplicated),
                        str(reordered),
                        str(errors),
                        f"{result['per_socket'] / 1024:.0f}",
                        str(len(result["pongs"])),
                        str(len(result["pongs"]) - sum(result["pongs"])),
                    ]
                ],
            ),
            flush=True,
        )
        rates = [int(r) for r in args.ceiling_rates.split(",")]
        rows = asyncio.run(ceiling(urls, key, rates, args.ceiling_sockets))
        print(
            f"\nConnect+resume at rising connect rates (goal p99 <= {GOAL_CONNECT_P99_MS:.0f} ms)\n"
        )
        print(table(["rate", "sockets", "p50 ms", "p99 ms", "goal met"], rows), flush=True)
        met = [r[0] for r in rows if r[4] == "yes"]
        print(
            f"\nceiling: {met[-1] if met else 'below ' + rows[0][0]}"
            " new sockets per second on this machine"
        )
    finally:
        supervisor.stop([*webs, *workers])
        log.close()


if __name__ == "__main__":
    main()
