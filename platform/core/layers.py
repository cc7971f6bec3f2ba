"""Redis connections that wait for a free slot instead of failing under a burst.

redis-py's default pool raises MaxConnectionsError once 100 connections are busy: 300 widget
sockets pinging at once killed 200 of them inside `group_add` (issue #14). Here every pool a
web process uses for Redis (the Channels layer's and the socket limits') is a blocking one,
sized by SWITCHBOARD_REDIS_POOL_SIZE, whose callers queue for up to
SWITCHBOARD_REDIS_POOL_WAIT_S before a connection error (which the consumer answers with an
`error` frame, keeping the socket open).
"""

from __future__ import annotations

from typing import Any

from channels_redis.core import RedisChannelLayer
from django.conf import settings
from redis.asyncio import BlockingConnectionPool


def blocking_pool(url: str, **options: Any) -> BlockingConnectionPool:
    """A pool of at most REDIS_POOL_SIZE connections; a caller waits for one when all are busy."""
    options.setdefault("max_connections", settings.REDIS_POOL_SIZE)
    options.setdefault("timeout", settings.REDIS_POOL_WAIT_S)
    pool: BlockingConnectionPool = BlockingConnectionPool.from_url(url, **options)
    return pool


class BlockingRedisChannelLayer(RedisChannelLayer):  # type: ignore[misc]
    """channels_redis's layer with `blocking_pool`s (its own would raise when all are busy)."""

    def create_pool(self, index: int) -> BlockingConnectionPool:
        host = dict(self.hosts[index])
        return blocking_pool(host.pop("address"), **host)
