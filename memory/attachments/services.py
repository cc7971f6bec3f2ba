"""Taking uploads in (`store_upload`, through an upload URL tied to one conversation) and
reading text out of them in the background (`read_attachment`)."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.core import signing
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from accounts.models import Organization
from core.realtime import publish_message_stored
from memory.conversations.attachments import attachment_storage, delete_files_on_commit
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


def delete_expired_attachments(now: datetime | None = None, batch: int = 500) -> int:
    """Delete the rows, then (on commit) the files, of attachments past their
    organization's retention (`Organization.attachment_retention_days`, else
    SWITCHBOARD_ATTACHMENT_RETENTION_DAYS; 0 keeps them), and of uploads never sent with a
    message after SWITCHBOARD_ATTACHMENT_UNSENT_HOURS. Returns how many rows went.

    The messages stay (their text); only their files go. Idempotent and bounded by `batch`
    rows per transaction, so two sweeps at once or a crash half-way lose nothing.
    """
    now = now or timezone.now()
    expired = Q(
        message__isnull=True, created_at__lt=now - timedelta(hours=settings.ATTACHMENT_UNSENT_HOURS)
    )
    for org_id, days in Organization.objects.values_list("pk", "attachment_retention_days"):
        days = settings.ATTACHMENT_RETENTION_DAYS if days is None else days
        if days:
            expired |= Q(
                conversation__organization_id=org_id, created_at__lt=now - timedelta(days=days)
            )
    deleted = 0
    while True:
        with transaction.atomic():
            rows = list(
                Attachment.objects.filter(expired)
                .select_for_update(skip_locked=True, of=("self",))
                .values_list("pk", "key")[:batch]
            )
            if not rows:
                return deleted
            Attachment.objects.filter(pk__in=[pk for pk, _key in rows]).delete()
            delete_files_on_commit([key for _pk, key in rows])
        deleted += len(rows)
        log.info("deleted %d expired attachments", len(rows))


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
