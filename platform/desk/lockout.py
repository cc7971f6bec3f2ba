"""Login lockout (django-axes) for /console/login/ and /admin/login/: the client address it
counts, the page a locked-out login gets, and the log line each lockout writes.

Counting and the lockout itself are axes' (settings.AXES_*); this module only adapts it.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

log = logging.getLogger("core.security")


def locked_out_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return f"Too many failed attempts. Try again in {minutes} minutes."


def client_ip(request: HttpRequest) -> str | None:
    """The peer address: a client-supplied X-Forwarded-For would let an attacker pick it."""
    return request.META.get("REMOTE_ADDR") or None


def locked_out_response(request: HttpRequest, *args: Any) -> HttpResponse:
    """429 for a login refused by the lockout: the console's own page, or a plain one."""
    if request.path.startswith("/console/"):
        return render(request, "console/login.html", {"error": locked_out_message()}, status=429)
    return HttpResponse(locked_out_message(), content_type="text/plain; charset=utf-8", status=429)


def log_lockout(sender: object, request: HttpRequest, username: str | None, **kwargs: Any) -> None:
    """Each refused login of a locked-out username or address is logged (no e-mail addresses)."""
    who = username or ""
    if "@" in who:
        who = "<e-mail address>"
    log.warning(
        "login locked out: username=%r ip=%s path=%s",
        who[:150],
        kwargs.get("ip_address"),
        request.path if request is not None else "",
    )
