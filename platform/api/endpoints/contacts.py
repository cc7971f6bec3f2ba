"""Contacts: list, read, export everything stored about one, erase their memory (or all)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema, Status

from desk.selectors import export_contact as export
from memory.conversations.models import Contact
from memory.longterm.erasure import forget_everything

from ..auth import caller_of, require_write
from ..schemas import ERRORS, ContactOut, EraseIn, Page
from .paging import PageParams, page

router = Router(tags=["contacts"])


class ContactFilters(Schema):
    external_id: str | None = None
    visitor_id: str | None = None


@router.get("/contacts", response={200: Page[ContactOut], **ERRORS})
def list_contacts(
    request: HttpRequest, filters: Query[ContactFilters], params: Query[PageParams]
) -> dict[str, object]:
    rows = Contact.objects.filter(organization_id=caller_of(request).organization_id)
    if filters.external_id is not None:
        rows = rows.filter(external_id=filters.external_id.replace("\x00", ""))
    if filters.visitor_id is not None:
        rows = rows.filter(visitor_id=filters.visitor_id.replace("\x00", ""))
    return page(rows.order_by("-created_at", "-id"), params)


def _contact(request: HttpRequest, contact_id: int) -> Contact:
    return get_object_or_404(
        Contact, pk=contact_id, organization_id=caller_of(request).organization_id
    )


@router.get("/contacts/{contact_id}", response={200: ContactOut, **ERRORS})
def get_contact(request: HttpRequest, contact_id: int) -> Contact:
    return _contact(request, contact_id)


@router.get("/contacts/{contact_id}/export", response={200: dict[str, Any], **ERRORS})
def export_contact(request: HttpRequest, contact_id: int) -> dict[str, Any]:
    """Everything stored about the contact: conversations, feedback, facts, preferences."""
    return export(_contact(request, contact_id).pk)


@router.post("/contacts/{contact_id}/erase", response={204: None, **ERRORS})
def erase_contact(request: HttpRequest, contact_id: int, body: EraseIn) -> Status[None]:
    """Forget the contact's memory; with `messages`, delete the contact and all it owns."""
    require_write(request)
    forget_everything(_contact(request, contact_id), messages=body.messages)
    return Status(204, None)
