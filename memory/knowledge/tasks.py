"""Ingestion tasks (queue `embeddings`): fetch the document by id, call the service."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_ready
from django import db
from django.utils import timezone

from core.workers import consumes
from memory.knowledge import ingestion
from memory.knowledge.models import Document

log = logging.getLogger(__name__)
EMBEDDINGS_QUEUE = "embeddings"


@shared_task(  # type: ignore[untyped-decorator]
    acks_late=True, soft_time_limit=600, time_limit=660, ignore_result=True
)
def ingest_document(document_id: int) -> None:
    """Ingest the document, with other pending documents of its bot (`claim_documents`)."""
    claims = ingestion.claim_documents(document_id)
    if not claims:
        return
    try:
        ingestion.ingest_claims(claims)
    except SoftTimeLimitExceeded:
        _fail_unfinished(claims, "timed out")
    except Exception as exc:
        log.exception("ingesting documents %s crashed", [c.document.pk for c in claims])
        _fail_unfinished(claims, f"crashed: {exc}")


def _fail_unfinished(claims: list[ingestion.Claim], error: str) -> None:
    """Mark the claimed documents still running as failed (those stored already stay ready)."""
    for claim in claims:
        Document.objects.filter(
            pk=claim.document.pk, revision=claim.revision, status=Document.Status.RUNNING
        ).update(status=Document.Status.FAILED, error=error[:500], updated_at=timezone.now())


def requeue_unfinished_documents() -> int:
    """Queue the ingestion of every document left unfinished (`ingestion.unfinished_documents`);
    returns how many were queued."""
    ids = ingestion.unfinished_documents()
    for document_id in ids:
        ingest_document.delay(document_id)
    return len(ids)


@worker_ready.connect  # type: ignore[untyped-decorator]
def resume_on_start(sender: Any, **_kwargs: Any) -> None:
    """An embeddings worker that starts queues what Redis lost or a killed worker left."""
    if not consumes(sender, EMBEDDINGS_QUEUE):
        return
    try:
        queued = requeue_unfinished_documents()
    finally:
        # Children forked later (a replaced child) must not inherit this connection.
        db.connections.close_all()
    if queued:
        log.info("queued %s unfinished knowledge documents", queued)
