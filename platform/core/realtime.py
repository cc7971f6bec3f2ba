"""Realtime fan-out: one Channels group per conversation.

The Channels layer is at-most-once, so Postgres stays the log: everything published here
is already committed (or, for streaming deltas, already written to the reply row), and a
client that misses a frame gets it back from the database when it resumes from its `seq`.

Sync callers (Celery workers, services) publish through one long-lived event loop on a
daemon thread, so a streaming reply reuses one Redis connection instead of building a
loop and a connection for every ~40 ms frame. The loop sends one event at a time, in the
order they were published, so a caller may also hand an event over without waiting for
Redis (`wait=False`) and still know it goes out before anything it publishes next.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from channels.layers import BaseChannelLayer, channel_layers
from django.db import transaction

log = logging.getLogger(__name__)

_Item = tuple[str, dict[str, Any], "concurrent.futures.Future[None] | None"]

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_queue: asyncio.Queue[_Item] | None = None
_sender: asyncio.Task[None] | None = None
_pid = 0  # the process whose thread runs _loop: a forked child (a worker's) starts its own


def conversation_group(conversation_id: int) -> str:
    return f"conv.{conversation_id}"


async def _send_in_order(layer: BaseChannelLayer, queue: asyncio.Queue[_Item]) -> None:
    while True:
        group, event, done = await queue.get()
        try:
            await layer.group_send(group, event)
        except Exception as exc:  # noqa: BLE001 - a lost event is re-read from the database on resume
            if done is not None:
                done.set_exception(exc)
            else:
                log.warning("publishing %s to %s failed: %s", event.get("type"), group, exc)
        else:
            if done is not None:
                done.set_result(None)


def _publisher() -> tuple[asyncio.AbstractEventLoop, asyncio.Queue[_Item]]:
    global _loop, _queue, _sender, _pid
    with _lock:
        if _loop is None or _loop.is_closed() or _queue is None or _pid != os.getpid():
            loop = asyncio.new_event_loop()
            queue: asyncio.Queue[_Item] = asyncio.Queue()
            layer = channel_layers.make_backend("default")
            _sender = loop.create_task(_send_in_order(layer, queue))
            threading.Thread(
                target=loop.run_forever, name="realtime-publisher", daemon=True
            ).start()
            _loop, _queue, _pid = loop, queue, os.getpid()
        return _loop, _queue


def publish_to_group_now(
    group: str, event: dict[str, Any], *, wait: bool = True, timeout: float = 5.0
) -> None:
    """Send to a group now, after everything published before; `wait` until Redis has it."""
    loop, queue = _publisher()
    done: concurrent.futures.Future[None] | None = concurrent.futures.Future() if wait else None
    loop.call_soon_threadsafe(queue.put_nowait, (group, event, done))
    if done is not None:
        done.result(timeout)


def publish_now(conversation_id: int, event: dict[str, Any], timeout: float = 5.0) -> None:
    """Send to the conversation's group now; waits until Redis has it."""
    publish_to_group_now(conversation_group(conversation_id), event, timeout=timeout)


def publish_to_conversation(
    conversation_id: int, event: dict[str, Any], *, wait: bool = True
) -> None:
    """Publish once the surrounding transaction commits (at once outside one)."""
    group = conversation_group(conversation_id)
    transaction.on_commit(lambda: publish_to_group_now(group, event, wait=wait))


def publish_to_group(group: str, event: dict[str, Any]) -> None:
    """Publish to any group (the agent console's) once the surrounding transaction commits."""
    transaction.on_commit(lambda: publish_to_group_now(group, event))


def publish_message_stored(
    conversation_id: int,
    message_id: int,
    *,
    wait: bool = True,
    message: Mapping[str, Any] | None = None,
) -> None:
    """On commit: a message was stored or changed state; sockets re-read it from the row.

    `message`: the row's widget payload (`memory.conversations.frames.message_payload`) as
    this transaction commits it, for a row nobody else can have changed yet (a reply just
    created): the widget sends it as it is instead of reading the row back. Other sockets
    still read the row.
    """
    event: dict[str, Any] = {"type": "message.stored", "message_id": message_id}
    if message is not None:
        event["message"] = dict(message)
    publish_to_conversation(conversation_id, event, wait=wait)
