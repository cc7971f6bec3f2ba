"""Security plumbing shared by every page: the secret key's home and the CSP middleware.

The settings themselves (cookies, HSTS, the policy's directives) live in settings.py.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from csp.middleware import CSPMiddleware, PolicyParts
from django.http import HttpRequest, HttpResponseBase


def read_stored_secret_key(data_dir: Path) -> str:
    """The key `stored_secret_key` made, or "" when there is none yet (reads only)."""
    try:
        return (data_dir / "secret_key").read_text().strip()
    except FileNotFoundError:
        return ""


def stored_secret_key(data_dir: Path) -> str:
    """The key kept in `<data dir>/secret_key`, made on first use (0600, never in git).

    Every process of one installation (web, workers, beat) reads the same file; the first to
    arrive writes it whole under a temporary name and links it in, so none reads half a key.
    """
    path = data_dir / "secret_key"
    if not path.exists():
        temporary = data_dir / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(50))
        try:
            os.link(temporary, path)  # fails if another process won the race: theirs stands
        except FileExistsError:
            pass
        finally:
            temporary.unlink()
    key = path.read_text().strip()
    if len(key) < 40:
        raise SystemExit(f"{path} holds no usable secret key: delete it to make a new one")
    return key


class SocketAwareCSPMiddleware(CSPMiddleware):
    """django-csp, with this host's own websocket origin added to `connect-src`.

    Older browsers do not count ws(s):// of the same host as 'self'; the widget and the
    console need their socket.
    """

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts: PolicyParts = super().get_policy_parts(request, response, report_only)
        socket = ("wss://" if request.is_secure() else "ws://") + request.get_host()
        update: dict[str, Any] = dict(parts.update or {})
        update["connect-src"] = [*update.get("connect-src", []), socket]
        parts.update = update
        return parts
