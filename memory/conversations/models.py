"""Contacts, conversations, messages (the per-conversation log, ordered by `seq`) and feedback."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Contact(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="contacts"
    )
    visitor_id = models.CharField(max_length=64, help_text="Anonymous id kept by the widget.")
    external_id = models.CharField(
        max_length=200, blank=True, help_text="The host site's user id, once verified by signature."
    )
    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "visitor_id"], name="contact_visitor_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"visitor {self.visitor_id[:8]}"


class Conversation(models.Model):
    class Status(models.TextChoices):
        BOT = "bot", "With the bot"
        WAITING = "waiting", "Waiting for an agent"
        AGENT = "agent", "With an agent"
        RESOLVED = "resolved", "Resolved"

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="conversations"
    )
    bot = models.ForeignKey("bots.Bot", on_delete=models.CASCADE, related_name="conversations")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="conversations")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.BOT)
    assignee = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    handoff_reason = models.CharField(max_length=40, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    last_seq = models.PositiveBigIntegerField(default=0, help_text="Highest seq handed out.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["bot", "contact", "-created_at"])]

    def __str__(self) -> str:
        return f"conversation {self.pk}"


class Message(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        BOT = "bot"
        AGENT = "agent"
        SYSTEM = "system"

    class Status(models.TextChoices):
        RECEIVED = "received"  # a stored user / agent message
        STREAMING = "streaming"  # a bot reply being generated; `text` is the part so far
        FINAL = "final"
        FAILED = "failed"  # generation gave up; `text` is the fallback line

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    seq = models.PositiveBigIntegerField()
    role = models.CharField(max_length=8, choices=Role.choices)
    text = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    client_id = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 - NULL = none, unique when set
    reply_to = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="reply",
        help_text="For a bot reply, the user message it answers: one reply per user message.",
    )
    model_name = models.CharField(max_length=200, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    queue_wait_ms = models.PositiveIntegerField(null=True, blank=True)
    ttft_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Time to first token.")
    engine_ttft_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="The engine's own part."
    )
    total_ms = models.PositiveIntegerField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True, help_text="Generation lease.")
    lease_token = models.CharField(max_length=32, blank=True)
    error = models.CharField(max_length=500, blank=True)
    sources = models.JSONField(
        default=list,
        blank=True,
        help_text="What a bot reply was grounded in: [{title, url, snippet, …}].",
    )
    author = models.ForeignKey(
        "auth.User",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The agent who wrote an agent message.",
    )
    topic = models.CharField(max_length=100, blank=True)
    topic_confidence = models.FloatField(null=True, blank=True)
    sentiment = models.FloatField(null=True, blank=True, help_text="-1 (negative) … 1 (positive).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["seq"]
        constraints = [
            models.UniqueConstraint(fields=["conversation", "seq"], name="message_seq_unique"),
            models.UniqueConstraint(
                fields=["conversation", "client_id"],
                condition=Q(client_id__isnull=False),
                name="message_client_id_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role} #{self.seq}"


class Feedback(models.Model):
    class Rating(models.TextChoices):
        HELPFUL = "helpful"
        NOT_HELPFUL = "not_helpful"

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="feedback")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="feedback")
    rating = models.CharField(max_length=12, choices=Rating.choices)
    comment = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["message", "contact"], name="feedback_one_per_contact"),
        ]

    def __str__(self) -> str:
        return f"{self.rating} on {self.message_id}"


class Attachment(models.Model):
    """A file a customer or an agent sent in a conversation (docs/attachments.md).

    `key` is where the stored copy lives: made up at upload, never from the sender's file
    name. `text` is what was read from it (OCR, the PDF's text, a transcript).
    """

    class Kind(models.TextChoices):
        IMAGE = "image"
        PDF = "pdf"
        TEXT = "text"
        AUDIO = "audio"

    class Status(models.TextChoices):
        PENDING = "pending"  # stored, not read yet
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"  # could not be read; the file itself is fine

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="attachments"
    )
    message = models.ForeignKey(
        Message,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="attachments",
        help_text="The message it was sent with; none until the message is sent.",
    )
    role = models.CharField(max_length=8, choices=Message.Role.choices)
    author = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    name = models.CharField(max_length=120, help_text="For display only (cleaned).")
    key = models.CharField(max_length=300, unique=True, help_text="The storage name.")
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    text = models.TextField(blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["conversation", "created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} attachment {self.pk}"
