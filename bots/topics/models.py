"""Topics (intents) of a bot, their example utterances (with pgvector embeddings), and the
per-bot classifier trained on those examples (plain float32 arrays, never pickles)."""

from __future__ import annotations

from django.db import models
from pgvector.django import VectorField

EMBEDDING_DIMENSIONS = 384


class Topic(models.Model):
    bot = models.ForeignKey("bots.Bot", on_delete=models.CASCADE, related_name="topics")
    name = models.CharField(max_length=100, help_text="Stored on each labelled message.")
    description = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bot", "name"], name="topic_unique_name_per_bot")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Example(models.Model):
    """One example utterance; `embedding` is filled by the background worker."""

    topic = models.ForeignKey(Topic, on_delete=models.CASCADE, related_name="examples")
    # Denormalized from the topic so nearest-neighbour queries filter by bot on one table.
    bot = models.ForeignKey("bots.Bot", on_delete=models.CASCADE, related_name="topic_examples")
    text = models.CharField(max_length=500)
    # Exact search per bot (a bot has at most some thousands of examples): an HNSW index
    # shared by all bots would drop this bot's rows when filtering after the approximate scan.
    embedding = VectorField(dimensions=EMBEDDING_DIMENSIONS, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["topic", "text"], name="example_unique_text_per_topic")
        ]

    def __str__(self) -> str:
        return self.text


class TopicClassifier(models.Model):
    """A bot's trained classifier: softmax over topics, logits = W·e + b on unit embeddings.

    `fingerprint` names the exact set of examples it was trained on; the labeller uses it only
    while it matches the bot's current examples (otherwise nearest neighbours in pgvector).
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        READY = "ready"
        FAILED = "failed"

    bot = models.OneToOneField("bots.Bot", on_delete=models.CASCADE, related_name="classifier")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    fingerprint = models.CharField(max_length=64, blank=True)
    method = models.CharField(max_length=40, blank=True)
    topic_names = models.JSONField(default=list, help_text="Row order of `weights`.")
    weights = models.BinaryField(default=b"", help_text="float32, topics x 384, little-endian.")
    bias = models.BinaryField(default=b"", help_text="float32, one per topic, little-endian.")
    example_count = models.PositiveIntegerField(default=0)
    train_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    trained_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"classifier of bot {self.bot_id} ({self.status})"
