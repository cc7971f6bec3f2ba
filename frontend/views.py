"""HTTP views of the public surfaces: the demo page and a health check."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from bots.models import WidgetKey

DEMO_ORG_SLUG = "demo"


def demo_csp(request: HttpRequest) -> str:
    """A strict policy: the page and the widget load only from this origin; no inline code.

    The widget styles its shadow root with a constructable stylesheet (CSSOM), which
    `style-src` does not govern, so it needs no 'unsafe-inline'.
    """
    ws = ("wss://" if request.is_secure() else "ws://") + request.get_host()
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            f"connect-src 'self' {ws}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
            "object-src 'none'",
        ]
    )


def demo(request: HttpRequest) -> HttpResponse:
    """A stand-in for a customer's website, with the widget embedded by one script tag."""
    origin = f"{request.scheme}://{request.get_host()}"
    key = (
        WidgetKey.objects.filter(bot__organization__slug=DEMO_ORG_SLUG, revoked=False)
        .order_by("pk")
        .first()
    )
    response = render(
        request,
        "demo/index.html",
        {
            "widget_key": key.key if key else "",
            "origin": origin,
            "allowed": bool(key and key.allows_origin(origin)),
        },
    )
    response["Content-Security-Policy"] = demo_csp(request)
    return response


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"ok": True})
