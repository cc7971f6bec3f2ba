"""Taking uploads in (`store_upload`, through an upload URL tied to one conversation) and
reading text out of them in the background (`read_attachment`)."""

from __future__ import annotations

import logging
import uuid

from django.conf import settings
from django.contrib.auth.models import User
from django.core import signing
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from core.realtime import publish_message_stored
from memory.conversations.attachments import attachment_storage
from memory.conversations.models import Attachment, Conversation, Message

from .checks import ALLOWED_NAMES, check_upload
from .reading import read_text

log = logging.getLogger(__name__)
UPLOAD_SALT = "switchboard.attachment.upload"


def upload_url(conversation: Conversation) -> str:
    """A path the customer of `conversation` may POST files to, for a few minutes."""
    token = signing.TimestampSigner(salt=UPLOAD_SALT).sign_object(
        [conversation.pk, conversation.contact_id]
    )
    return reverse("widget-upload", args=[token])


def upload_limits() -> dict[str, object]:
    """What the widget shows before a file is chosen."""
    return {
        "max_bytes": settings.ATTACHMENT_MAX_BYTES,
        "max_files": settings.ATTACHMENTS_PER_MESSAGE,
        "types": ALLOWED_NAMES,
        "expires_in": settings.ATTACHMENT_UPLOAD_URL_TTL_S,
    }


def conversation_for_upload(token: str) -> Conversation | None:
    """The conversation an upload token is for, if the token is genuine and fresh and the
    conversation still belongs to that customer."""
    try:
        conversation_id, contact_id = signing.TimestampSigner(salt=UPLOAD_SALT).unsign_object(
            token, max_age=settings.ATTACHMENT_UPLOAD_URL_TTL_S
        )
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return (
        Conversation.objects.select_related("bot")
        .filter(pk=conversation_id, contact_id=contact_id)
        .first()
    )


def store_upload(
    conversation: Conversation,
    data: bytes,
    name: str,
    *,
    role: str = Message.Role.USER,
    author: User | None = None,
) -> Attachment:
    """Check, store and record one file (raises `checks.Refused`: then nothing is stored).

    Not linked to a message yet: the message that sends it links it
    (`memory.conversations.attachments.link_attachments`).
    """
    checked = check_upload(data, name)
    key = f"attachments/{conversation.organization_id}/{uuid.uuid4().hex}.{checked.extension}"
    storage = attachment_storage()
    stored_key = storage.save(key, ContentFile(checked.data))
    try:
        return Attachment.objects.create(
            conversation=conversation,
            role=role,
            author=author,
            kind=checked.kind,
            content_type=checked.content_type,
            size=len(checked.data),
            name=checked.name,
            key=stored_key,
            width=checked.width,
            height=checked.height,
        )
    except BaseException:
        storage.delete(stored_key)  # no row, no file
        raise


def _claim(attachment_id: int) -> bool:
    """pending -> running; a redelivered task finds it running (its worker died) and gives up
    on it instead of crashing the same worker again."""
    if Attachment.objects.filter(pk=attachment_id, status=Attachment.Status.PENDING).update(
        status=Attachment.Status.RUNNING
    ):
        return True
    Attachment.objects.filter(pk=attachment_id, status=Attachment.Status.RUNNING).update(
        status=Attachment.Status.FAILED, error="reading was interrupted", read_at=timezone.now()
    )
    return False


def read_attachment(attachment_id: int) -> Attachment | None:
    """OCR, PDF text, plain text or transcript into `attachment.text`; never raises for a
    file it cannot read (the reply goes on without its text)."""
    if not _claim(attachment_id):
        return None
    attachment = Attachment.objects.get(pk=attachment_id)
    try:
        with attachment_storage().open(attachment.key, "rb") as handle:
            data = handle.read()
        text = read_text(attachment.kind, data)[: settings.ATTACHMENT_TEXT_CHARS]
        fields = {"status": Attachment.Status.DONE, "text": text, "error": ""}
    except Exception as error:  # noqa: BLE001 - a stored file we cannot read: said, not retried
        log.warning("attachment %s could not be read: %r", attachment_id, error)
        fields = {"status": Attachment.Status.FAILED, "text": "", "error": repr(error)[:300]}
    with transaction.atomic():
        updated = Attachment.objects.filter(
            Q(pk=attachment_id), status=Attachment.Status.RUNNING
        ).update(read_at=timezone.now(), **fields)
        attachment.refresh_from_db()
        if updated and attachment.message_id is not None:
            # The console shows the text under the file once it is read.
            publish_message_stored(attachment.conversation_id, attachment.message_id)
    return attachment
