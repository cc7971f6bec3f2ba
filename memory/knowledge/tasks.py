"""Ingestion tasks (queue `embeddings`): fetch the document by id, call the service."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.utils import timezone

from memory.knowledge import services
from memory.knowledge.models import Document

log = logging.getLogger(__name__)


@shared_task(  # type: ignore[untyped-decorator]
    acks_late=True, soft_time_limit=600, time_limit=660, ignore_result=True
)
def ingest_document(document_id: int) -> None:
    claim = services.claim_document(document_id)
    if claim is None:
        return
    try:
        services.ingest_claimed(claim)
    except SoftTimeLimitExceeded:
        Document.objects.filter(pk=document_id, revision=claim.revision).update(
            status=Document.Status.FAILED, error="timed out", updated_at=timezone.now()
        )
    except Exception as exc:
        log.exception("ingesting document %s crashed", document_id)
        Document.objects.filter(pk=document_id, revision=claim.revision).update(
            status=Document.Status.FAILED, error=f"crashed: {exc}"[:500], updated_at=timezone.now()
        )
