"""Errors a socket survives: Redis or the database briefly unreachable, the layer busy.

A consumer that meets one logs it and answers the frame with an `error` frame (code
`unavailable`); the socket stays open and the client may try again (docs/protocol.md).
"""

from __future__ import annotations

import logging
from typing import Any

from channels.exceptions import ChannelFull
from django.db import InterfaceError, OperationalError
from redis.exceptions import RedisError

log = logging.getLogger("frontend.consumers")

# OSError covers refused and reset connections and timeouts (TimeoutError is one).
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    RedisError,
    OSError,
    ChannelFull,
    OperationalError,
    InterfaceError,
)


def unavailable(error: BaseException, where: str, client_id: str | None = None) -> dict[str, Any]:
    """Log the error; the frame that tells the client to try again."""
    log.warning("%s: transient %s: %s", where, type(error).__name__, error)
    frame: dict[str, Any] = {
        "type": "error",
        "code": "unavailable",
        "detail": "a brief problem on our side; try again in a moment",
    }
    if client_id:
        frame["client_id"] = client_id
    return frame
