"""Ingesting documents: claim, extract, chunk, embed in batches, replace the chunks atomically.

A run claims the document (pending → running) with its `revision`; it writes chunks only
while that revision is still current, so a re-ingest started meanwhile wins. Adding and
queueing documents is `services`; the task that runs this is `tasks.ingest_document`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import numpy.typing as npt
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from core.holders import holder_is_dead, new_token
from memory.embeddings import embed
from memory.knowledge import chunking, extract
from memory.knowledge.fetch import FetchError, safe_fetch
from memory.knowledge.models import Chunk, Document, Example

log = logging.getLogger(__name__)

EMBED_BATCH = 128  # chunks embedded between two progress updates of one document
BATCH_DOCUMENTS = 64  # pending documents of one bot a run takes together (claim_documents)
BATCH_BYTES = 2_000_000  # ... up to this much stored text beyond the first document
CLAIM_TIMEOUT = timedelta(minutes=15)  # a run older than this is presumed dead
FETCH_TYPES = (
    "text/html",
    "application/xhtml+xml",
    "text/markdown",
    "text/x-markdown",
    "text/plain",
    "application/pdf",
)


class IngestError(Exception):
    """The document cannot be ingested as it is (bad PDF, blocked URL, empty text)."""


@dataclass
class Claim:
    document: Document
    revision: int


_CLAIM_SQL = f"""
UPDATE {Document._meta.db_table}
SET status = %(running)s, claimed_at = %(now)s, claimed_by = %(holder)s, updated_at = %(now)s
WHERE id = %(id)s AND (status = %(pending)s
  OR (status = %(running)s AND (claimed_at IS NULL OR claimed_at < %(stale)s)))
RETURNING revision
"""  # noqa: S608 - the table name from the model, values as parameters


def claim_document(document_id: int) -> Claim | None:
    """Take a pending document (or one whose run died); None when it is not to be taken.

    One conditional UPDATE: most calls find their document taken already (the first task of
    an import claims its siblings, `claim_documents`), and they should cost one statement,
    not a locked read of the document's whole text. The claimed revision is the one the
    UPDATE saw: a re-ingest right after it makes this claim stale (`_current`), not wrong.
    The claim names this process (`claimed_by`), so that a worker started after it died
    takes the document back at once (`requeue_unfinished_documents`).
    """
    now = timezone.now()
    holder = new_token()
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM_SQL,
            {
                "id": document_id,
                "now": now,
                "stale": now - CLAIM_TIMEOUT,
                "holder": holder,
                "pending": Document.Status.PENDING,
                "running": Document.Status.RUNNING,
            },
        )
        row = cursor.fetchone()
    if row is None:
        return None
    document = Document.objects.filter(pk=document_id).first()
    return None if document is None else Claim(document, row[0])


def claim_documents(document_id: int) -> list[Claim]:
    """Claim this document and other pending documents of its bot, to embed in one pass.

    A help centre imported at once is many small documents, one task each; the first task
    to run takes up to BATCH_DOCUMENTS of them (at most BATCH_BYTES of stored text beyond
    its own), so MiniLM embeds full batches instead of one chunk at a time, and the other
    tasks find their document taken. Rows another run holds are skipped, not waited for.
    """
    first = claim_document(document_id)
    if first is None:
        return []
    claims = [first]
    now = timezone.now()
    with transaction.atomic():
        candidates = (
            Document.objects.select_for_update(skip_locked=True)
            .filter(bot_id=first.document.bot_id, status=Document.Status.PENDING)
            .exclude(pk=document_id)
            .order_by("pk")[: BATCH_DOCUMENTS - 1]
        )
        size = 0
        for document in candidates:
            size += len(document.body) + len(document.blob or b"")
            if size > BATCH_BYTES:
                break
            document.status = Document.Status.RUNNING
            document.claimed_at = now
            document.claimed_by = first.document.claimed_by
            claims.append(Claim(document, document.revision))
        Document.objects.filter(pk__in=[c.document.pk for c in claims[1:]]).update(
            status=Document.Status.RUNNING,
            claimed_at=now,
            claimed_by=first.document.claimed_by,
            updated_at=now,
        )
    return claims


def _current(claim: Claim) -> bool:
    return Document.objects.filter(
        pk=claim.document.pk, revision=claim.revision, status=Document.Status.RUNNING
    ).exists()


def drafts_for(document: Document) -> list[chunking.ChunkDraft]:
    """Extract and chunk a document (fetching it first when it is a URL)."""
    kind, title = document.kind, document.title
    body, blob = document.body, bytes(document.blob) if document.blob is not None else None
    if kind == Document.Kind.URL:
        try:
            fetched = safe_fetch(document.source_url, allowed_types=FETCH_TYPES)
        except FetchError as exc:
            raise IngestError(str(exc)) from exc
        if fetched.content_type == "application/pdf":
            kind, blob = Document.Kind.PDF, fetched.content
        else:
            body = fetched.content.decode("utf-8", errors="replace")
            kind = {
                "text/html": Document.Kind.HTML,
                "application/xhtml+xml": Document.Kind.HTML,
                "text/plain": Document.Kind.TEXT,
            }.get(fetched.content_type, Document.Kind.MARKDOWN)
    if kind == Document.Kind.FAQ:
        try:
            pairs = extract.faq_pairs(body)
        except (ValueError, KeyError, TypeError) as exc:
            raise IngestError(f"not a FAQ list: {exc}") from exc
        return chunking.chunk_faq(title, pairs)
    if kind == Document.Kind.MARKDOWN:
        sections = extract.sections_from_markdown(body)
    elif kind == Document.Kind.HTML:
        page_title, sections = extract.sections_from_html(body)
        title = title or page_title
    elif kind == Document.Kind.PDF:
        if not blob:
            raise IngestError("no PDF uploaded")
        try:
            sections = extract.sections_from_pdf(blob)
        except Exception as exc:  # pypdf raises many types on a broken file
            raise IngestError(f"unreadable PDF: {exc}") from exc
    else:
        sections = extract.sections_from_text(body)
    return chunking.chunk_sections(title, sections)


def _drafts_or_fail(claim: Claim) -> list[chunking.ChunkDraft] | None:
    """The document's chunks to embed; None (and the document marked failed) when it has none."""
    try:
        drafts = drafts_for(claim.document)
        if not drafts:
            raise IngestError("no text found in the document")
    except IngestError as exc:
        Document.objects.filter(pk=claim.document.pk, revision=claim.revision).update(
            status=Document.Status.FAILED, error=str(exc)[:500], updated_at=timezone.now()
        )
        log.warning("document %s not ingested: %s", claim.document.pk, exc)
        return None
    Document.objects.filter(pk=claim.document.pk, revision=claim.revision).update(
        chunks_total=len(drafts), chunks_done=0
    )
    return drafts


def _embed_texts(drafts: list[chunking.ChunkDraft]) -> list[str]:
    return [d.embed_text or d.text for d in drafts]


Vectors = list[npt.NDArray[np.float32]]


def _embed_questions(claims: list[Claim]) -> list[Vectors]:
    """Each document's example questions, embedded (one pass for all the documents)."""
    texts = [q for claim in claims for q in claim.document.questions]
    vectors = list(embed(texts)) if texts else []
    out: list[Vectors] = []
    for claim in claims:
        out.append(vectors[: len(claim.document.questions)])
        vectors = vectors[len(claim.document.questions) :]
    return out


def ingest_claimed(claim: Claim, progress: Callable[[int, int], None] | None = None) -> bool:
    """Embed and store the document's chunks; False when a newer revision took over."""
    drafts = _drafts_or_fail(claim)
    if drafts is None:
        return True
    total = len(drafts)
    vectors: list[npt.NDArray[np.float32]] = []
    for start in range(0, total, EMBED_BATCH):
        batch = drafts[start : start + EMBED_BATCH]
        vectors.extend(embed(_embed_texts(batch)))
        done = start + len(batch)
        updated = Document.objects.filter(pk=claim.document.pk, revision=claim.revision).update(
            chunks_done=done, updated_at=timezone.now()
        )
        if not updated:
            return False
        if progress is not None:
            progress(done, total)
    return bool(_store_many([(claim, drafts, vectors, _embed_questions([claim])[0])]))


def ingest_claims(claims: list[Claim]) -> None:
    """Ingest several claimed documents (`claim_documents`): one embedding pass for all."""
    if len(claims) == 1:
        ingest_claimed(claims[0])
        return
    batch = [(claim, drafts) for claim in claims if (drafts := _drafts_or_fail(claim))]
    vectors = list(embed([text for _, drafts in batch for text in _embed_texts(drafts)]))
    questions = _embed_questions([claim for claim, _ in batch])
    embedded: list[Embedded] = []
    start = 0
    for (claim, drafts), examples in zip(batch, questions, strict=True):
        embedded.append((claim, drafts, vectors[start : start + len(drafts)], examples))
        start += len(drafts)
    _store_many(embedded)


# A claimed document, its chunks with their vectors, and its example questions' vectors.
Embedded = tuple[Claim, list[chunking.ChunkDraft], Vectors, Vectors]


def _store_many(documents: list[Embedded]) -> int:
    """Replace each document's chunks, all in one transaction, where its revision is still
    ours (a re-ingest started meanwhile wins); returns how many were stored."""
    revisions = {claim.document.pk: claim.revision for claim, _, _, _ in documents}
    with transaction.atomic():
        locked = {
            document.pk: document
            for document in Document.objects.select_for_update().filter(
                pk__in=revisions, status=Document.Status.RUNNING
            )
            if document.revision == revisions[document.pk]
        }
        if not locked:
            return 0
        Chunk.objects.filter(document_id__in=locked).delete()
        chunks = Chunk.objects.bulk_create(
            [
                Chunk(
                    organization_id=document.organization_id,
                    bot_id=document.bot_id,
                    document=document,
                    ordinal=n,
                    heading=draft.heading[:500],
                    anchor=draft.anchor[:300],
                    text=draft.text,
                    question=draft.question,
                    answer=draft.answer,
                    embedding=vector,
                )
                for claim, drafts, vectors, _ in documents
                if (document := locked.get(claim.document.pk)) is not None
                for n, (draft, vector) in enumerate(zip(drafts, vectors, strict=True))
            ],
            batch_size=500,
        )
        Example.objects.bulk_create(_examples(documents, locked, chunks), batch_size=500)
        # chunks_total was set for this revision when the document was chunked.
        now = timezone.now()
        Document.objects.filter(pk__in=locked).update(
            status=Document.Status.READY,
            chunks_done=F("chunks_total"),
            error="",
            ingested_at=now,
            updated_at=now,
        )
    return len(locked)


def _examples(
    documents: list[Embedded], locked: dict[int, Document], chunks: list[Chunk]
) -> list[Example]:
    """Each example question, linked to the chunk of its document closest to it in meaning."""
    by_document: dict[int, list[Chunk]] = {}
    for chunk in chunks:
        by_document.setdefault(chunk.document_id, []).append(chunk)
    examples: list[Example] = []
    for claim, _, vectors, question_vectors in documents:
        document = locked.get(claim.document.pk)
        if document is None or not question_vectors:
            continue
        own = by_document[document.pk]
        chunk_matrix = np.stack([vectors[chunk.ordinal] for chunk in own])
        nearest = (np.stack(question_vectors) @ chunk_matrix.T).argmax(axis=1)
        examples += [
            Example(
                organization_id=document.organization_id,
                bot_id=document.bot_id,
                chunk=own[int(n)],
                text=text,
                embedding=vector,
            )
            for text, vector, n in zip(document.questions, question_vectors, nearest, strict=True)
        ]
    return examples


def ingest_document(
    document_id: int, progress: Callable[[int, int], None] | None = None
) -> Document | None:
    """Claim and ingest one document; None when another run has it or it is gone."""
    claim = claim_document(document_id)
    if claim is None:
        return None
    ingest_claimed(claim, progress)
    return Document.objects.get(pk=document_id)


def unfinished_documents() -> list[int]:
    """The ids of every document left unfinished, for a worker that starts to queue again.

    Redis may have lost the queued tasks (restarted without persistence: `make run` stopped
    during the first indexing), and a worker killed mid-run leaves its documents `running`.
    Those whose claimant is a dead process on this machine go back to `pending` now; other
    claims after CLAIM_TIMEOUT. Queueing a document that is being ingested is harmless: its
    task finds it claimed and returns.
    """
    running = Document.objects.filter(status=Document.Status.RUNNING)
    holders = running.exclude(claimed_by="").values_list("claimed_by", flat=True).distinct()
    dead = [holder for holder in holders if holder_is_dead(holder)]
    if dead:
        running.filter(claimed_by__in=dead).update(
            status=Document.Status.PENDING, updated_at=timezone.now()
        )
    stale = timezone.now() - CLAIM_TIMEOUT
    unfinished = Document.objects.filter(
        Q(status=Document.Status.PENDING)
        | Q(status=Document.Status.RUNNING, claimed_at__isnull=True)
        | Q(status=Document.Status.RUNNING, claimed_at__lt=stale)
    ).order_by("pk")
    return list(unfinished.values_list("pk", flat=True))
