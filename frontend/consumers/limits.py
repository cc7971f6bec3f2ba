"""Per-visitor limits on the widget socket, kept in Redis so every web process shares them.

A token bucket for `message` frames (SWITCHBOARD_RATE_MESSAGES per SWITCHBOARD_RATE_WINDOW_S)
and a cap on open sockets per visitor (SWITCHBOARD_MAX_SOCKETS_PER_VISITOR). Visitor ids
are chosen by the browser, so these stop a noisy widget, not a determined attacker (who
rotates ids); per-IP limits belong in front of the web process.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from django.conf import settings

# A socket that has sent nothing for this long no longer counts (its web process may have
# died without running `disconnect`); live sockets refresh their entry as frames arrive.
SOCKET_STALE_S = 600
SOCKET_REFRESH_S = 60

# KEYS[1] bucket; ARGV: capacity, tokens per ms, now (ms). Returns {allowed, retry_after_ms}.
_BUCKET_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local tokens = tonumber(redis.call('HGET', KEYS[1], 't'))
local ts = tonumber(redis.call('HGET', KEYS[1], 'ts'))
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local retry = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
else
  retry = math.ceil((1 - tokens) / rate)
end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate) + 1000)
return {allowed, retry}
"""

# KEYS[1] sockets zset; ARGV: member, now, stale cutoff, cap, ttl. Returns 1 if admitted.
_SOCKETS_SCRIPT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then
  return 0
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

_clients: dict[int, aioredis.Redis] = {}


def _redis() -> aioredis.Redis:
    """One client per event loop (redis.asyncio connections belong to the loop they opened on)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(id(loop))
    if client is None:
        client = _clients[id(loop)] = aioredis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=5, health_check_interval=30
        )
    return client


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: float = 0.0


def _visitor_key(kind: str, organization_id: int, visitor_id: str) -> str:
    return f"sb:limit:{kind}:{organization_id}:{visitor_id}"


async def take_message_token(organization_id: int, visitor_id: str) -> Verdict:
    """Spend one of the visitor's message tokens; refused when the bucket is empty."""
    capacity = settings.WIDGET_RATE_MESSAGES
    rate_per_ms = capacity / (settings.WIDGET_RATE_WINDOW_S * 1000)
    allowed, retry_ms = await _redis().eval(
        _BUCKET_SCRIPT,
        1,
        _visitor_key("messages", organization_id, visitor_id),
        capacity,
        repr(rate_per_ms),
        int(time.time() * 1000),
    )
    return Verdict(bool(allowed), int(retry_ms) / 1000)


async def open_socket(organization_id: int, visitor_id: str, socket_id: str) -> bool:
    """Count this socket against the visitor's cap; False when the visitor is at the cap."""
    now = time.time()
    admitted = await _redis().eval(
        _SOCKETS_SCRIPT,
        1,
        _visitor_key("sockets", organization_id, visitor_id),
        socket_id,
        repr(now),
        repr(now - SOCKET_STALE_S),
        settings.WIDGET_MAX_SOCKETS_PER_VISITOR,
        SOCKET_STALE_S * 2,
    )
    return bool(admitted)


async def refresh_socket(organization_id: int, visitor_id: str, socket_id: str) -> None:
    await _redis().zadd(
        _visitor_key("sockets", organization_id, visitor_id), {socket_id: time.time()}, xx=True
    )


async def close_socket(organization_id: int, visitor_id: str, socket_id: str) -> None:
    await _redis().zrem(_visitor_key("sockets", organization_id, visitor_id), socket_id)
