"""HTTP views of the public surfaces: the demo page (health checks: core.health)."""

from __future__ import annotations

from csp.constants import NONE
from csp.decorators import csp_replace
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from bots.models import WidgetKey

DEMO_ORG_SLUG = "demo"


@csp_replace({"form-action": [NONE]})
def demo(request: HttpRequest) -> HttpResponse:
    """A stand-in for a customer's website, with the widget embedded by one script tag.

    Served under the site-wide CSP (settings.CONTENT_SECURITY_POLICY), which the widget
    needs nothing beyond: no inline code, styles through CSSOM (docs/widget.md).
    """
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
