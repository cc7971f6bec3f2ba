"""Background work on attachments (queue `embeddings`, the niced background worker)."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(soft_time_limit=120, time_limit=150, acks_late=True)  # type: ignore[untyped-decorator]
def read_attachment(attachment_id: int) -> None:
    """Chained ahead of the reply to the message that sent the file (desk.intake)."""
    services.read_attachment(attachment_id)


@shared_task(soft_time_limit=600, time_limit=660)  # type: ignore[untyped-decorator]
def delete_expired_attachments() -> int:
    """From beat: organizations' retention, and uploads never sent (docs/attachments.md)."""
    return services.delete_expired_attachments()
