"""Who holds a claim or a lease: a token naming this host and process, and whether it died.

A reply's lease (bots.services) and a knowledge document's claim (memory.knowledge.services)
carry one, so that work whose holder was killed is taken over at once instead of after a
timeout. Only a process on this machine can be known dead; any other holder counts as alive.
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid

_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]  # noqa: S324 - not security


def new_token() -> str:
    """32 characters: host hash, pid, random."""
    return f"{_HOST}{os.getpid():08x}{uuid.uuid4().hex[:16]}"


def holder_is_dead(token: str) -> bool:
    """True only when the holder was a process on this machine that no longer exists."""
    if len(token) != 32 or not token.startswith(_HOST):
        return False
    try:
        pid = int(token[8:16], 16)
    except ValueError:
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _zombie(pid)


def _zombie(pid: int) -> bool:
    """A killed process not yet reaped still answers kill(0): a container's PID 1 may never
    reap an orphan. Its state in /proc says it is gone (Linux; elsewhere, alive)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            state = stat.read().rsplit(")", 1)[-1].split()[0]
    except (OSError, IndexError):
        return False
    return state in {"Z", "X"}
