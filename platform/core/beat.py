"""Celery beat that runs its schedule only while it holds a Redis lock: one leader at a time.

Two beats (a rolling deploy, a second replica by mistake) would each send every periodic
task. A lock is the simplest sound fix: it needs nothing from the tasks, and a standby beat
takes over when the leader dies (its lock expires after SWITCHBOARD_BEAT_LOCK_TTL_S). The
leader renews the lock before every tick that may send, so it sends only while the lock is
its own; it releases the lock when stopped. A new leader counts its intervals from the
moment it takes over (nothing fires at once on takeover).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from typing import Any

import redis
from celery.beat import Scheduler
from django.conf import settings

log = logging.getLogger(__name__)

LOCK_KEY = "sb:beat:leader"
# Renew the lock only if it is still ours (a value compare and a TTL set, atomically).
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class LeaderScheduler(Scheduler):  # type: ignore[misc]
    """The in-memory scheduler, ticking only while this beat holds the leader lock."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.token = uuid.uuid4().hex
        self.leading = False
        self.ttl_ms = int(settings.BEAT_LOCK_TTL_S * 1000)
        self.redis = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
        super().__init__(*args, **kwargs)
        # Never sleep past a third of the lock's life: the lock is renewed at every tick.
        self.max_interval: float = min(float(self.max_interval), settings.BEAT_LOCK_TTL_S / 3)

    def _hold_lock(self) -> bool:
        try:
            if self.leading and self.redis.eval(_RENEW, 1, LOCK_KEY, self.token, self.ttl_ms):
                return True
            taken = bool(self.redis.set(LOCK_KEY, self.token, nx=True, px=self.ttl_ms))
        except redis.RedisError as error:
            log.warning("beat: Redis unreachable (%s); not sending until it is back", error)
            taken = False
        if taken and not self.leading:
            log.info("beat: leader now; the schedule starts from here")
            now = self.app.now()
            for entry in self.schedule.values():
                entry.last_run_at = now
        elif self.leading and not taken:
            log.warning("beat: lost the leader lock; standing by")
        self.leading = taken
        return taken

    def tick(self, *args: Any, **kwargs: Any) -> float:
        if not self._hold_lock():
            return float(self.max_interval)  # standby: look again a third of a TTL later
        return min(float(super().tick(*args, **kwargs)), float(self.max_interval))

    def close(self) -> None:
        if self.leading:
            with contextlib.suppress(redis.RedisError):  # else the lock expires on its own
                self.redis.eval(_RELEASE, 1, LOCK_KEY, self.token)
            self.leading = False
        super().close()
