"""Realtime fan-out: one Channels group per conversation.

The Channels layer is at-most-once, so Postgres stays the log: everything published here
is already committed (or, for streaming deltas, already written to the reply row), and a
client that misses a frame gets it back from the database when it resumes from its `seq`.

Sync callers (Celery workers, services) publish through one long-lived event loop on a
daemon thread, so a streaming reply reuses one Redis connection instead of building a
loop and a connection for every ~40 ms frame.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from channels.layers import BaseChannelLayer, channel_layers
from django.db import transaction

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_layer: BaseChannelLayer | None = None


def conversation_group(conversation_id: int) -> str:
    return f"conv.{conversation_id}"


def _publisher() -> tuple[asyncio.AbstractEventLoop, BaseChannelLayer]:
    global _loop, _layer
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(
                target=loop.run_forever, name="realtime-publisher", daemon=True
            ).start()
            _loop, _layer = loop, channel_layers.make_backend("default")
        assert _layer is not None
        return _loop, _layer


def publish_now(conversation_id: int, event: dict[str, Any], timeout: float = 5.0) -> None:
    """Send to the conversation's group now; waits until Redis has it."""
    loop, layer = _publisher()
    future = asyncio.run_coroutine_threadsafe(
        layer.group_send(conversation_group(conversation_id), event), loop
    )
    future.result(timeout)


def publish_to_conversation(conversation_id: int, event: dict[str, Any]) -> None:
    """Publish once the surrounding transaction commits (at once outside one)."""
    transaction.on_commit(lambda: publish_now(conversation_id, event))


def publish_to_group(group: str, event: dict[str, Any]) -> None:
    """Publish to any group (the agent console's) once the surrounding transaction commits."""

    def send() -> None:
        loop, layer = _publisher()
        asyncio.run_coroutine_threadsafe(layer.group_send(group, event), loop).result(5.0)

    transaction.on_commit(send)


def publish_message_stored(conversation_id: int, message_id: int) -> None:
    """On commit: a message was stored or changed state; sockets re-read it from the row."""
    publish_to_conversation(conversation_id, {"type": "message.stored", "message_id": message_id})
