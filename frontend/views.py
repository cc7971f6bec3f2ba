"""HTTP views of the public surfaces: the demo page and a health check."""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from bots.models import WidgetKey

DEMO_ORG_SLUG = "demo"


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
    return response


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"ok": True})
