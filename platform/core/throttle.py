"""Per-address rate limits on the public HTTP endpoints (django-ratelimit, counted in the
shared Redis cache): login form posts, API calls that fail to authenticate, and the widget's
file uploads.

The lockout of a guessed account is axes' (desk.lockout); these bound the cost of the
attempts themselves (every login hashes a password) and of API-key guessing.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django_ratelimit.core import get_usage, is_ratelimited

TOO_MANY = "Too many attempts from this address. Try again in a minute."


def _address(group: str, request: HttpRequest) -> str:
    """The peer address (an in-process client may send none): never a client-set header."""
    return str(request.META.get("REMOTE_ADDR") or "unknown")


def _login_rate(group: str, request: HttpRequest) -> str:
    return str(settings.LOGIN_POST_RATE)


def _api_auth_rate(group: str, request: HttpRequest) -> str:
    return str(settings.API_AUTH_FAILURE_RATE)


def _upload_rate(group: str, request: HttpRequest) -> str:
    return str(settings.UPLOAD_RATE)


def limit_login_posts(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A login view whose POSTs are counted per address; over the rate: 429, not checked."""

    @wraps(view)
    def limited(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if is_ratelimited(
            request, group="login", key=_address, rate=_login_rate, method="POST", increment=True
        ):
            return HttpResponse(TOO_MANY, content_type="text/plain; charset=utf-8", status=429)
        return view(request, *args, **kwargs)

    return limited


def api_auth_blocked(request: HttpRequest) -> bool:
    """Whether this address has used up its failed API authentications (counts nothing)."""
    usage = get_usage(request, group="api-auth", key=_address, rate=_api_auth_rate, increment=False)
    return usage is not None and usage["count"] >= usage["limit"]


def count_api_auth_failure(request: HttpRequest) -> None:
    is_ratelimited(request, group="api-auth", key=_address, rate=_api_auth_rate, increment=True)


def count_upload(request: HttpRequest) -> bool:
    """Count one upload from this address; whether it is over SWITCHBOARD_UPLOAD_RATE (then
    refuse it before reading its body)."""
    return bool(
        is_ratelimited(request, group="upload", key=_address, rate=_upload_rate, increment=True)
    )
