"""Per-customer long-term memory: facts, preferences, conversation summaries, identity secrets.

Everything here hangs off a Contact (cascade): erasing a contact erases its memory. Facts and
summaries carry their embedding (all-MiniLM-L6-v2, 384 dimensions) for recall at reply time.
"""

from __future__ import annotations

import secrets

from django.db import models
from pgvector.django import VectorField

from memory.embeddings import DIMENSIONS

from . import identity


def new_identity_secret() -> str:
    return secrets.token_urlsafe(32)


class BotIdentity(models.Model):
    """The secret a host site's signing keys derive from (one key per proof format).

    `previous_secret` stays valid while a host rotates: set it to the old secret, put a new one
    in `secret`, and clear it once the host signs with the new keys.
    """

    bot = models.OneToOneField("bots.Bot", on_delete=models.CASCADE, related_name="identity")
    secret = models.CharField(max_length=200, default=new_identity_secret)
    previous_secret = models.CharField(
        max_length=200, blank=True, help_text="Still accepted while the host rotates; then clear."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"identity secret of {self.bot}"

    def active_secrets(self) -> list[str]:
        return [s for s in (self.secret, self.previous_secret) if s]

    def user_hash_key(self) -> str:
        return identity.user_hash_key(self.secret)

    def jwt_key(self) -> str:
        return identity.jwt_key(self.secret)


class Origin(models.TextChoices):
    EXPLICIT = "explicit", "Set by the customer"
    RULE = "rule", "Learned by a rule"
    MODEL = "model", "Learned by the model"


class MemoryItem(models.Model):
    """One durable fact the customer stated; one row per key, so a changed fact replaces the old."""

    contact = models.ForeignKey(
        "memory.Contact", on_delete=models.CASCADE, related_name="memory_items"
    )
    key = models.CharField(max_length=40)  # plan, card, city, employer …
    value = models.CharField(max_length=200)
    text = models.CharField(max_length=300, help_text="The fact as a sentence, for the prompt.")
    origin = models.CharField(max_length=10, choices=Origin.choices)
    source_message = models.ForeignKey(
        "memory.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    embedding = VectorField(dimensions=DIMENSIONS, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "key"], name="memory_item_one_per_key"),
        ]

    def __str__(self) -> str:
        return self.text


class Preference(models.Model):
    """language, tone, name, channel: set in the widget (explicit) or learned; explicit wins."""

    class Name(models.TextChoices):
        LANGUAGE = "language"
        TONE = "tone"
        NAME = "name"
        CHANNEL = "channel"

    contact = models.ForeignKey(
        "memory.Contact", on_delete=models.CASCADE, related_name="preferences"
    )
    name = models.CharField(max_length=20, choices=Name.choices)
    value = models.CharField(max_length=100)
    origin = models.CharField(max_length=10, choices=Origin.choices)
    source_message = models.ForeignKey(
        "memory.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "name"], name="preference_one_per_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.value}"


class ConversationSummary(models.Model):
    """What an ended conversation was about, written by the model, for later chats to recall."""

    conversation = models.OneToOneField(
        "memory.Conversation", on_delete=models.CASCADE, related_name="summary"
    )
    contact = models.ForeignKey(
        "memory.Contact", on_delete=models.CASCADE, related_name="conversation_summaries"
    )
    text = models.TextField()
    through_seq = models.PositiveBigIntegerField(help_text="The last message summarised.")
    embedding = VectorField(dimensions=DIMENSIONS, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"summary of {self.conversation_id}"
