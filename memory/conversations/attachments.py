"""Attachments as the conversation log keeps them: their storage, links to messages, signed
download URLs, their payload in frames and exports, and deleting their files.

Checking and storing an upload, and reading text out of it, is `memory.attachments`'.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypedDict

from django.conf import settings
from django.core import signing
from django.core.files.storage import Storage, storages
from django.db import transaction
from django.http import FileResponse
from django.urls import reverse

from .models import Attachment, Message

DOWNLOAD_SALT = "switchboard.attachment.download"


class AttachmentPayload(TypedDict):
    id: int
    kind: str
    content_type: str
    name: str
    size: int
    width: int | None
    height: int | None
    status: str
    text: str
    url: str


def attachment_storage() -> Storage:
    """The filesystem under the data dir by default, an S3-compatible bucket by setting."""
    return storages["attachments"]


def signed_url(attachment: Attachment) -> str:
    """A path that serves this file for SWITCHBOARD_ATTACHMENT_URL_TTL_S seconds.

    Handed out only over the conversation's own channels: the customer's socket, the
    organization's console, API and webhooks. It names the conversation too, so a token
    cannot be replayed against a file of another conversation.
    """
    token = signing.TimestampSigner(salt=DOWNLOAD_SALT).sign_object(
        [attachment.pk, attachment.conversation_id]
    )
    return reverse("widget-attachment", args=[token])


def attachment_for_token(token: str) -> Attachment | None:
    """The attachment a download token names, if it is genuine, fresh and still stored."""
    try:
        attachment_id, conversation_id = signing.TimestampSigner(salt=DOWNLOAD_SALT).unsign_object(
            token, max_age=settings.ATTACHMENT_URL_TTL_S
        )
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return Attachment.objects.filter(pk=attachment_id, conversation_id=conversation_id).first()


def attachment_metadata(attachment: Attachment, *, with_text: bool = True) -> dict[str, object]:
    """For the API, webhooks and exports: what the file is and a signed link to it (a path
    on this server, valid SWITCHBOARD_ATTACHMENT_URL_TTL_S), never its bytes."""
    data: dict[str, object] = {
        **attachment_payload(attachment),
        "created_at": attachment.created_at,
        "url_expires_in": settings.ATTACHMENT_URL_TTL_S,
    }
    if not with_text:
        del data["text"]
    return data


def attachment_payload(attachment: Attachment) -> AttachmentPayload:
    """What the widget and the console show of a file, with its signed link."""
    return {
        "id": attachment.pk,
        "kind": attachment.kind,
        "content_type": attachment.content_type,
        "name": attachment.name,
        "size": attachment.size,
        "width": attachment.width,
        "height": attachment.height,
        "status": attachment.status,
        "text": attachment.text,
        "url": signed_url(attachment),
    }


def prefetched_attachments(message: Message) -> list[Attachment] | None:
    """The message's attachments where the caller fetched them (prefetch_related), else
    None: frames are also built on the event loop, where a query is not allowed."""
    prefetched = getattr(message, "_prefetched_objects_cache", {})
    return list(prefetched["attachments"]) if "attachments" in prefetched else None


def file_response(attachment: Attachment) -> FileResponse:
    """The stored file, never run as a page whatever it holds (docs/security.md)."""
    inline = attachment.kind in (Attachment.Kind.IMAGE, Attachment.Kind.AUDIO)
    response = FileResponse(
        attachment_storage().open(attachment.key, "rb"),
        content_type=attachment.content_type,
        as_attachment=not inline,
        filename=attachment.name,
    )
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cross-Origin-Resource-Policy"] = "cross-origin"  # shown on the customer's site
    response["Cache-Control"] = "private, max-age=300"
    return response


def stored_files(message_id: int, kinds: Iterable[str]) -> list[tuple[Attachment, bytes]]:
    """The message's files of these kinds with their stored bytes, in the order sent (for a
    model that takes them itself); a file no longer in storage is left out."""
    storage = attachment_storage()
    files = []
    sent = Attachment.objects.filter(message_id=message_id, kind__in=list(kinds)).order_by("pk")
    for attachment in sent:
        try:
            with storage.open(attachment.key, "rb") as stored:
                files.append((attachment, stored.read()))
        except (FileNotFoundError, OSError):
            continue
    return files


def link_attachments(message: Message, attachment_ids: Iterable[int]) -> list[Attachment]:
    """Attach this conversation's unsent uploads to `message` (others' ids are ignored).

    Rows are locked so that a reader finishing at the same time sees the link (or the
    linker sees it done): `memory.attachments.services.read_attachment`.
    """
    ids = sorted(set(attachment_ids))
    if not ids:
        return []
    with transaction.atomic(savepoint=False):
        rows = list(
            Attachment.objects.select_for_update()
            .filter(
                pk__in=ids,
                conversation_id=message.conversation_id,
                role=message.role,
                message__isnull=True,
            )
            .order_by("pk")
        )
        Attachment.objects.filter(pk__in=[a.pk for a in rows]).update(message=message)
    for row in rows:
        row.message = message
    return rows


def delete_files(keys: Iterable[str]) -> int:
    """Delete stored copies (after their rows are gone, on commit); returns how many."""
    storage = attachment_storage()
    deleted = 0
    for key in keys:
        if key and storage.exists(key):
            storage.delete(key)
            deleted += 1
    return deleted


def delete_files_on_commit(keys: list[str]) -> None:
    transaction.on_commit(lambda: delete_files(keys))
