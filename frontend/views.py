"""HTTP views of the public surfaces: the demo page, the widget's attachment uploads and
signed downloads (health checks: core.health)."""

from __future__ import annotations

from csp.constants import NONE
from csp.decorators import csp_replace
from django.conf import settings
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from bots.models import WidgetKey
from core.throttle import count_upload
from memory.attachments.checks import Refused
from memory.attachments.services import conversation_for_upload, store_upload
from memory.conversations.attachments import (
    attachment_for_token,
    attachment_payload,
    file_response,
)

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


def _cors(response: HttpResponse, origin: str | None) -> HttpResponse:
    if origin:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Max-Age"] = "600"
        response["Vary"] = "Origin"
    return response


def _refusal(code: str, detail: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "detail": detail}}, status=status)


@csrf_exempt  # no cookies: the signed URL is the credential
@require_http_methods(["POST", "OPTIONS"])
def upload_attachment(request: HttpRequest, token: str) -> HttpResponse:
    """One file for the visitor's conversation the upload URL names (docs/attachments.md).

    The widget runs on the customer's site: a cross-origin request, allowed from the origins
    the bot's widget keys allow.
    """
    conversation = conversation_for_upload(token)
    origin = request.headers.get("Origin")
    if conversation is None:
        return _refusal("expired", "this upload link is not valid any more; try again", 403)
    if origin is not None and not any(
        key.allows_origin(origin)
        for key in WidgetKey.objects.filter(bot_id=conversation.bot_id, revoked=False)
    ):
        return _refusal("forbidden_origin", "uploads are not allowed from this site", 403)
    if request.method == "OPTIONS":
        return _cors(HttpResponse(status=204), origin)
    if count_upload(request):
        return _cors(
            _refusal("too_many_uploads", "too many files from here; try again in a minute", 429),
            origin,
        )
    cap = settings.ATTACHMENT_MAX_BYTES
    too_large = f"the file is over the {cap // 1024} KB limit"
    # Refused before the body is read when it says it is too big (multipart adds a little).
    if int(request.headers.get("Content-Length") or 0) > cap + 64 * 1024:
        return _cors(_refusal("too_large", too_large, 413), origin)
    upload = request.FILES.get("file")
    if upload is None:
        return _cors(
            _refusal("missing_file", "send the file as the form field 'file'", 400), origin
        )
    if upload.size is not None and upload.size > cap:
        return _cors(_refusal("too_large", too_large, 413), origin)
    try:
        attachment = store_upload(conversation, upload.read(), upload.name or "")
    except Refused as refused:
        status = 413 if refused.code == "too_large" else 422
        return _cors(_refusal(refused.code, refused.detail, status), origin)
    return _cors(JsonResponse({"attachment": attachment_payload(attachment)}, status=201), origin)


@require_GET
def serve_attachment(request: HttpRequest, token: str) -> FileResponse:
    """A stored file, for whoever holds a fresh signed URL of it (docs/attachments.md)."""
    attachment = attachment_for_token(token)
    if attachment is None:
        raise Http404("no such file, or the link has expired")
    return file_response(attachment)
