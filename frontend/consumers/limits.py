"""Limits on the widget socket, kept in Redis so every web process shares them.

Per visitor: a token bucket for `message` frames (SWITCHBOARD_RATE_MESSAGES per
SWITCHBOARD_RATE_WINDOW_S) and a cap on open sockets (SWITCHBOARD_MAX_SOCKETS_PER_VISITOR).
Visitor ids are chosen by the browser, so those stop a noisy widget, not an attacker who
rotates ids: per client address and per organization, token buckets also bound connects,
new conversations and frames of every type (settings.WIDGET_RATES, docs/protocol.md).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import redis.asyncio as aioredis
from django.conf import settings

from core.layers import blocking_pool

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

# KEYS: buckets; ARGV: now (ms), then capacity and tokens per ms for each bucket. A token is
# taken from every bucket or from none. Returns {allowed, retry_after_ms}.
_BUCKETS_SCRIPT = """
local now = tonumber(ARGV[1])
local tokens = {}
local retry = 0
for i = 1, #KEYS do
  local capacity = tonumber(ARGV[2 * i])
  local rate = tonumber(ARGV[2 * i + 1])
  local t = tonumber(redis.call('HGET', KEYS[i], 't'))
  local ts = tonumber(redis.call('HGET', KEYS[i], 'ts'))
  if t == nil or ts == nil then
    t = capacity
    ts = now
  end
  t = math.min(capacity, t + math.max(0, now - ts) * rate)
  tokens[i] = t
  if t < 1 then
    retry = math.max(retry, math.ceil((1 - t) / rate))
  end
end
local allowed = 0
if retry == 0 then
  allowed = 1
end
for i = 1, #KEYS do
  local capacity = tonumber(ARGV[2 * i])
  local rate = tonumber(ARGV[2 * i + 1])
  redis.call('HSET', KEYS[i], 't', tostring(tokens[i] - allowed), 'ts', tostring(now))
  redis.call('PEXPIRE', KEYS[i], math.ceil(capacity / rate) + 1000)
end
return {allowed, retry}
"""

_clients: dict[int, aioredis.Redis] = {}


def _redis() -> aioredis.Redis:
    """One client per event loop (redis.asyncio connections belong to the loop they opened on)."""
    loop = asyncio.get_running_loop()
    client = _clients.get(id(loop))
    if client is None:
        # A blocking pool: a burst of frames waits for a connection instead of failing.
        client = _clients[id(loop)] = aioredis.Redis.from_pool(
            blocking_pool(settings.REDIS_URL, socket_timeout=5, health_check_interval=30)
        )
    return client


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: float = 0.0


@dataclass(frozen=True)
class Refusal:
    """Which limit refused, for the error frame's detail."""

    what: str
    per: str
    verdict: Verdict


async def _take(buckets: list[tuple[str, str]]) -> Verdict:
    """One token from each (key, rate name) bucket, all or none, in one round trip."""
    args: list[str | int] = [int(time.time() * 1000)]
    for _key, rate_name in buckets:
        capacity, window_s = settings.WIDGET_RATES[rate_name]
        args += [capacity, repr(capacity / (window_s * 1000))]
    allowed, retry_ms = await _redis().eval(
        _BUCKETS_SCRIPT, len(buckets), *[key for key, _ in buckets], *args
    )
    return Verdict(bool(allowed), int(retry_ms) / 1000)


async def _admit(what: str, organization_id: int, ip: str, kinds: list[str]) -> Refusal | None:
    """Per address and per organization, for each of `kinds` (rate names without the suffix)."""
    buckets = []
    for kind in kinds:
        buckets += [
            (f"sb:limit:{kind}:ip:{ip}", f"{kind}_per_ip"),
            (f"sb:limit:{kind}:org:{organization_id}", f"{kind}_per_org"),
        ]
    verdict = await _take(buckets)
    if verdict.allowed:
        return None
    return Refusal(what, "address or organization", verdict)


async def admit_connect(organization_id: int, ip: str) -> Refusal | None:
    return await _admit("connections", organization_id, ip, ["connects"])


async def admit_new_conversation(organization_id: int, ip: str) -> Refusal | None:
    return await _admit("new conversations", organization_id, ip, ["conversations"])


# Frame types with a bucket of their own (besides the one every frame shares): those that
# read or write the database, reach an agent's screen, or are easy to repeat.
OWN_BUCKET = {
    "message": "messages",
    "resume": "resumes",
    "typing": "typing",
    "feedback": "feedback",
    "handoff.request": "handoffs",
    "csat": "feedback",
    "offline_message": "offline_messages",
    "memory.list": "memory",
    "memory.delete": "memory",
    "memory.export": "memory",
    "preferences.set": "memory",
}


async def admit_frame(organization_id: int, ip: str, frame_type: str | None) -> Refusal | None:
    """Every frame, the malformed included (frame_type None), counts; some types twice."""
    kinds = ["frames"]
    if frame_type in OWN_BUCKET:
        kinds.append(OWN_BUCKET[frame_type])
    return await _admit(f"'{frame_type or 'malformed'}' frames", organization_id, ip, kinds)


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
