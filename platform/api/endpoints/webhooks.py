"""Webhook endpoints (owners and admins, or a write key) and their delivery log."""

from __future__ import annotations

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Status
from ninja.errors import HttpError

from ..auth import caller_of, require_write
from ..models import WebhookEndpoint
from ..schemas import ERRORS, DeliveryOut, Page, WebhookCreated, WebhookIn, WebhookOut, WebhookPatch
from ..webhooks import UnsafeWebhookUrl, check_webhook_url
from .paging import PageParams, page

router = Router(tags=["webhooks"])


def _checked(url: str) -> str:
    try:
        check_webhook_url(url)
    except UnsafeWebhookUrl as exc:
        raise HttpError(422, f"Webhook URL refused: {exc}") from exc
    return url


@router.get("/webhooks", response={200: Page[WebhookOut], **ERRORS})
def list_webhooks(request: HttpRequest, params: Query[PageParams]) -> dict[str, object]:
    rows = WebhookEndpoint.objects.filter(organization_id=caller_of(request).organization_id)
    return page(rows.order_by("id"), params)


@router.post("/webhooks", response={201: WebhookCreated, **ERRORS})
def create_webhook(request: HttpRequest, body: WebhookIn) -> Status[WebhookEndpoint]:
    caller = require_write(request)
    endpoint = WebhookEndpoint.objects.create(
        organization_id=caller.organization_id,
        url=_checked(body.url),
        events=sorted(set(body.events)),
        active=body.active,
    )
    return Status(201, endpoint)


def _endpoint(request: HttpRequest, webhook_id: int) -> WebhookEndpoint:
    return get_object_or_404(
        WebhookEndpoint, pk=webhook_id, organization_id=caller_of(request).organization_id
    )


@router.get("/webhooks/{webhook_id}", response={200: WebhookOut, **ERRORS})
def get_webhook(request: HttpRequest, webhook_id: int) -> WebhookEndpoint:
    return _endpoint(request, webhook_id)


@router.patch("/webhooks/{webhook_id}", response={200: WebhookOut, **ERRORS})
def update_webhook(request: HttpRequest, webhook_id: int, body: WebhookPatch) -> WebhookEndpoint:
    require_write(request)
    endpoint = _endpoint(request, webhook_id)
    fields = []
    if body.url is not None:
        endpoint.url = _checked(body.url)
        fields.append("url")
    if body.events is not None:
        endpoint.events = sorted(set(body.events))
        fields.append("events")
    if body.active is not None:
        endpoint.active = body.active
        fields.append("active")
    if fields:
        endpoint.save(update_fields=fields)
    return endpoint


@router.delete("/webhooks/{webhook_id}", response={204: None, **ERRORS})
def delete_webhook(request: HttpRequest, webhook_id: int) -> Status[None]:
    require_write(request)
    _endpoint(request, webhook_id).delete()
    return Status(204, None)


@router.get("/webhooks/{webhook_id}/deliveries", response={200: Page[DeliveryOut], **ERRORS})
def list_deliveries(
    request: HttpRequest, webhook_id: int, params: Query[PageParams]
) -> dict[str, object]:
    endpoint = _endpoint(request, webhook_id)
    return page(endpoint.deliveries.order_by("-created_at"), params)
