"""Knowledge documents of a bot, their chunks (text, embedding, full-text vector), and lookups.

A document is ingested as a whole: its chunks are replaced in one transaction, so readers
see either the old set or the new one, never a mix.
"""

from __future__ import annotations

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVector, SearchVectorField
from django.db import models
from django.db.models import Q
from pgvector.django import HnswIndex, VectorField

DIMENSIONS = 384  # all-MiniLM-L6-v2 (memory.embeddings.DIMENSIONS)


class Document(models.Model):
    class Kind(models.TextChoices):
        MARKDOWN = "markdown", "Markdown"
        HTML = "html", "HTML"
        PDF = "pdf", "PDF"
        TEXT = "text", "Plain text"
        FAQ = "faq", "Questions and answers"
        URL = "url", "Web page (fetched)"

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be ingested"
        RUNNING = "running", "Ingesting"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="knowledge_documents"
    )
    bot = models.ForeignKey(
        "bots.Bot", on_delete=models.CASCADE, related_name="knowledge_documents"
    )
    key = models.CharField(
        max_length=200,
        blank=True,
        help_text="Optional stable name (a file path, an article slug): adding a document "
        "with the same key to the same bot replaces it.",
    )
    title = models.CharField(max_length=300)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    source_url = models.URLField(max_length=2000, blank=True)
    body = models.TextField(blank=True, help_text="The uploaded text (not for PDF or URL).")
    questions = models.JSONField(
        default=list,
        blank=True,
        help_text="Questions this document answers, in customers' own words (one string "
        "each). Each is matched against a customer's question as well as the text.",
    )
    blob = models.BinaryField(null=True, blank=True, help_text="An uploaded PDF.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    revision = models.PositiveIntegerField(
        default=0, help_text="Bumped on every (re-)ingest; a stale run does not write."
    )
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0, help_text="Chunks embedded so far.")
    error = models.CharField(max_length=500, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(
        max_length=32, blank=True, help_text="The claiming process (core.holders)."
    )
    ingested_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["bot", "key"], condition=~Q(key=""), name="knowledge_document_key_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def progress(self) -> str:
        if self.status == self.Status.READY:
            return f"{self.chunks_total} chunks"
        if self.chunks_total:
            return f"{self.chunks_done}/{self.chunks_total} chunks"
        return "-"


class Chunk(models.Model):
    """A self-contained passage: its heading path is part of `text`, so it reads on its own."""

    # organization and bot are copied from the document so retrieval filters them in SQL
    # on the chunk table itself, next to the vector and full-text conditions.
    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE)
    bot = models.ForeignKey("bots.Bot", on_delete=models.CASCADE)
    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="chunks")
    ordinal = models.PositiveIntegerField()
    heading = models.CharField(max_length=500, blank=True)
    anchor = models.CharField(max_length=300, blank=True, help_text="#fragment or page=N.")
    text = models.TextField()
    question = models.TextField(blank=True, help_text="For a FAQ pair: the question.")
    answer = models.TextField(blank=True, help_text="For a FAQ pair: the curated answer.")
    embedding = VectorField(dimensions=DIMENSIONS)
    # Computed by Postgres from the heading and text as the row is written: no second pass,
    # and no second HNSW insertion for an UPDATE of every new chunk.
    search = models.GeneratedField(
        expression=SearchVector("heading", weight="A", config="english")
        + SearchVector("text", weight="B", config="english"),
        output_field=SearchVectorField(),
        db_persist=True,
    )

    class Meta:
        ordering = ["document", "ordinal"]
        indexes = [
            models.Index(fields=["bot", "organization"]),
            GinIndex(fields=["search"], name="knowledge_chunk_search"),
            HnswIndex(
                name="knowledge_chunk_embedding",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.ordinal}"


class Example(models.Model):
    """A question a chunk answers, in a customer's words: a second way to find the chunk.

    Customers rarely phrase a question like the article that answers it; their own words
    (`Document.questions`) sit much closer to a new customer's (docs/knowledge.md).
    """

    organization = models.ForeignKey("accounts.Organization", on_delete=models.CASCADE)
    bot = models.ForeignKey("bots.Bot", on_delete=models.CASCADE)
    chunk = models.ForeignKey(Chunk, on_delete=models.CASCADE, related_name="examples")
    text = models.TextField()
    embedding = VectorField(dimensions=DIMENSIONS)

    class Meta:
        indexes = [
            models.Index(fields=["bot", "organization"]),
            HnswIndex(
                name="knowledge_example_embedding",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
        ]

    def __str__(self) -> str:
        return self.text[:60]


class Lookup(models.Model):
    """What retrieval found for one customer message: the record handoff and analytics read.

    `outcome` "no_knowledge" means the bot has a knowledge base, nothing in it was relevant,
    and the bot said it does not know and offered a person.
    """

    class Outcome(models.TextChoices):
        GROUNDED = "grounded", "Answered from knowledge"
        CURATED = "curated", "Curated FAQ answer"
        NO_KNOWLEDGE = "no_knowledge", "Nothing relevant: offered a person"

    message = models.OneToOneField(
        "memory.Message", on_delete=models.CASCADE, related_name="knowledge_lookup"
    )
    bot = models.ForeignKey("bots.Bot", on_delete=models.CASCADE, related_name="+")
    outcome = models.CharField(max_length=14, choices=Outcome.choices)
    best_similarity = models.FloatField(null=True, blank=True)
    chunk_ids = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.outcome} for message {self.message_id}"
