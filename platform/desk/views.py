"""The agent console's pages: login (with lockout), queue, conversation, audit trail.

Thin views: parse, one access check, one selector or service, render. Live updates and
agent actions go over the console socket (frontend/consumers/console.py).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from accounts.access import ADMIN_ROLES, NotFound, org_ids_for_user, orgs_for_user
from core.throttle import limit_login_posts
from desk import lockout, selectors, services
from desk.models import AuditEvent, CannedResponse
from memory.attachments.checks import Refused
from memory.conversations.attachments import file_response
from memory.conversations.frames import display_name

LOGIN_URL = "/console/login/"


def _page(
    request: HttpRequest, template: str, context: dict[str, object], status: int = 200
) -> HttpResponse:
    # The Content-Security-Policy comes from django-csp (settings.CONTENT_SECURITY_POLICY).
    return render(request, template, context, status=status)


def _agent(request: HttpRequest) -> User:
    """The logged-in member; a user in no organization sees nothing (404)."""
    user = request.user
    assert isinstance(user, User)
    if not org_ids_for_user(user):
        raise Http404
    return user


@require_http_methods(["GET", "POST"])
@limit_login_posts
def login_view(request: HttpRequest) -> HttpResponse:
    error = ""
    status = 200
    if request.method == "POST":
        username = request.POST.get("username", "")[:150]
        password = request.POST.get("password", "")
        # Counted and refused by django-axes (settings.AXES_*): a locked-out username or
        # address gets None here, whatever the password, and axes' middleware answers 429.
        user = authenticate(request, username=username, password=password)
        if getattr(request, "axes_locked_out", False):
            error = lockout.locked_out_message()
            status = 429
        elif user is None:
            error = "Wrong username or password."
            status = 401
        else:
            login(request, user)
            # Back to the page that asked for the login (a conversation's link), on this
            # site only: never an open redirect.
            wanted = request.GET.get("next", "")
            if url_has_allowed_host_and_scheme(
                wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
            ):
                return redirect(wanted)
            return redirect("desk:queue")
    return _page(request, "console/login.html", {"error": error}, status=status)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect(LOGIN_URL)


@login_required(login_url=LOGIN_URL)
def queue(request: HttpRequest) -> HttpResponse:
    user = _agent(request)
    return _page(
        request,
        "console/queue.html",
        {
            "queue": selectors.queue_snapshot(user),
            "is_admin": orgs_for_user(user, ADMIN_ROLES).exists(),
        },
    )


@login_required(login_url=LOGIN_URL)
def conversation(request: HttpRequest, conversation_id: int) -> HttpResponse:
    user = _agent(request)
    try:
        found = selectors.access_conversation_for_agent(user, conversation_id)
    except NotFound:
        raise Http404 from None
    canned = list(
        CannedResponse.objects.filter(organization_id=found.organization_id).values("title", "text")
    )
    return _page(
        request,
        "console/conversation.html",
        {
            "conversation": found,
            "view": selectors.conversation_view(found),
            "canned": canned,
            "me": {"id": user.pk, "name": display_name(user)},
        },
    )


@login_required(login_url=LOGIN_URL)
def attachment(request: HttpRequest, attachment_id: int) -> FileResponse:
    """A customer's or colleague's file, for the organization's agents only."""
    user = _agent(request)
    try:
        found = selectors.access_attachment_for_agent(user, attachment_id)
    except NotFound:
        raise Http404 from None
    return file_response(found)


@login_required(login_url=LOGIN_URL)
@require_POST
def upload(request: HttpRequest, conversation_id: int) -> JsonResponse:
    """A file for the agent's next reply in a conversation they own (docs/attachments.md);
    the socket's `send` then names it. Same checks and storage as the customers' files."""
    user = _agent(request)
    upload = request.FILES.get("file")
    if upload is None:
        return _refusal("missing_file", "send the file as the form field 'file'", 400)
    if upload.size is not None and upload.size > settings.ATTACHMENT_MAX_BYTES:
        cap = settings.ATTACHMENT_MAX_BYTES // 1024
        return _refusal("too_large", f"the file is over the {cap} KB limit", 413)
    try:
        found = services.upload_agent_file(user, conversation_id, upload.read(), upload.name or "")
    except NotFound:
        raise Http404 from None
    except services.Conflict:
        return _refusal("not_yours", "claim the conversation before sending files", 409)
    except Refused as refused:
        return _refusal(refused.code, refused.detail, 413 if refused.code == "too_large" else 422)
    return JsonResponse({"attachment": selectors.console_attachment(found)}, status=201)


def _refusal(code: str, detail: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "detail": detail}}, status=status)


@login_required(login_url=LOGIN_URL)
def audit(request: HttpRequest) -> HttpResponse:
    user = _agent(request)
    org_ids = list(orgs_for_user(user, ADMIN_ROLES).values_list("pk", flat=True))
    if not org_ids:
        raise Http404
    events = AuditEvent.objects.filter(organization_id__in=org_ids).select_related("actor")[:500]
    return _page(request, "console/audit.html", {"events": events})
