"""Knowledge documents: add (text, Markdown, HTML, FAQ, URL, or a PDF upload), status, delete."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import File, Form, Query, Router, Schema, Status, UploadedFile
from ninja.errors import HttpError
from pydantic import Field

from bots.models import Bot
from memory.knowledge.fetch import FetchError, validate_public_url
from memory.knowledge.models import Document
from memory.knowledge.services import add_document as add
from memory.knowledge.services import reingest_document

from ..auth import caller_of, require_write
from ..schemas import ERRORS, NO_NUL, DocumentIn, DocumentOut, Page
from .paging import PageParams, page

router = Router(tags=["knowledge"])
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


class DocumentFilters(Schema):
    bot_id: int | None = None
    status: Literal["pending", "running", "ready", "failed"] | None = None


@router.get("/knowledge/documents", response={200: Page[DocumentOut], **ERRORS})
def list_documents(
    request: HttpRequest, filters: Query[DocumentFilters], params: Query[PageParams]
) -> dict[str, object]:
    rows = Document.objects.filter(organization_id=caller_of(request).organization_id).defer(
        "body", "blob"
    )
    if filters.bot_id is not None:
        rows = rows.filter(bot_id=filters.bot_id)
    if filters.status:
        rows = rows.filter(status=filters.status)
    return page(rows.order_by("-created_at", "-id"), params)


def _bot(request: HttpRequest, bot_id: int) -> Bot:
    return get_object_or_404(Bot, pk=bot_id, organization_id=caller_of(request).organization_id)


@router.post("/knowledge/documents", response={201: DocumentOut, **ERRORS})
def add_document(request: HttpRequest, body: DocumentIn) -> Status[Document]:
    require_write(request)
    bot = _bot(request, body.bot_id)
    if body.kind == "url":
        try:
            validate_public_url(body.source_url)
        except FetchError as exc:
            raise HttpError(422, f"URL refused: {exc}") from exc
    elif not body.body.strip():
        raise HttpError(422, "body is empty.")
    document = add(
        bot,
        kind=body.kind,
        title=body.title,
        body="" if body.kind == "url" else body.body,
        source_url=body.source_url if body.kind == "url" else "",
        key=body.key,
        questions=body.questions,
    )
    return Status(201, document)


class UploadIn(Schema):
    bot_id: int
    title: str = Field(pattern=NO_NUL, min_length=1, max_length=300)
    key: str = Field(pattern=NO_NUL, default="", max_length=200)


@router.post("/knowledge/documents/upload", response={201: DocumentOut, **ERRORS})
def upload_document(
    request: HttpRequest, form: Form[UploadIn], file: File[UploadedFile]
) -> Status[Document]:
    """A file: PDF by content, else Markdown / HTML / text by its name's extension."""
    require_write(request)
    bot = _bot(request, form.bot_id)
    if file.size is None or file.size > MAX_UPLOAD_BYTES:
        raise HttpError(413, f"Files are limited to {MAX_UPLOAD_BYTES // (1024 * 1024)} MiB.")
    data = file.read()
    name = (file.name or "").lower()
    if data.startswith(b"%PDF-"):
        return Status(201, add(bot, kind="pdf", title=form.title, blob=data, key=form.key))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise HttpError(415, "Upload a PDF or UTF-8 text (Markdown, HTML, plain).") from exc
    if "\x00" in text or not text.strip():
        raise HttpError(422, "The file is empty or not text.")
    kind = (
        "markdown"
        if name.endswith((".md", ".markdown"))
        else "html"
        if name.endswith((".html", ".htm"))
        else "text"
    )
    return Status(201, add(bot, kind=kind, title=form.title, body=text, key=form.key))


def _document(request: HttpRequest, document_id: int) -> Document:
    return get_object_or_404(
        Document.objects.defer("body", "blob"),
        pk=document_id,
        organization_id=caller_of(request).organization_id,
    )


@router.get("/knowledge/documents/{document_id}", response={200: DocumentOut, **ERRORS})
def get_document(request: HttpRequest, document_id: int) -> Document:
    return _document(request, document_id)


@router.post("/knowledge/documents/{document_id}/reingest", response={200: DocumentOut, **ERRORS})
def reingest(request: HttpRequest, document_id: int) -> Document:
    require_write(request)
    return reingest_document(_document(request, document_id))


@router.delete("/knowledge/documents/{document_id}", response={204: None, **ERRORS})
def delete_document(request: HttpRequest, document_id: int) -> Status[None]:
    require_write(request)
    _document(request, document_id).delete()
    return Status(204, None)
