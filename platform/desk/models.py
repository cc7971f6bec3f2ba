"""Desk rows: per-bot handoff policy, agent presence, notes, canned replies, CSAT, offline
messages, handoff trips (with their summaries), login failures and the audit trail.

Who owns a conversation lives on `memory.Conversation` (status + assignee); this app only
changes it through conditional updates in `desk.services`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class HandoffPolicy(models.Model):
    """When a bot's conversation goes to a human, and when humans are there (business hours)."""

    bot = models.OneToOneField("bots.Bot", on_delete=models.CASCADE, related_name="handoff_policy")
    on_request = models.BooleanField(default=True, help_text="The customer asks for a human.")
    on_negative_sentiment = models.BooleanField(default=True)
    sentiment_threshold = models.FloatField(
        default=-0.4, help_text="Average of the last `sentiment_window` customer messages."
    )
    sentiment_window = models.PositiveSmallIntegerField(default=3)
    on_no_knowledge = models.BooleanField(
        default=False, help_text="The bot found nothing relevant in the knowledge base."
    )
    not_helpful_streak = models.PositiveSmallIntegerField(
        default=2, help_text="'Not helpful' ratings in a row that hand off; 0 = never."
    )
    on_bot_offer = models.BooleanField(
        default=True, help_text="A failed reply offers a human; accepting hands off."
    )
    timezone = models.CharField(max_length=64, default="UTC")
    # Business hours: weekdays 0=Mon … 6=Sun and [open_hour, close_hour) in `timezone`.
    # open_hour == close_hour means always open.
    weekdays = models.JSONField(default=list, blank=True, help_text="[] = every day.")
    open_hour = models.PositiveSmallIntegerField(default=0)
    close_hour = models.PositiveSmallIntegerField(default=0)

    def __str__(self) -> str:
        return f"handoff policy of {self.bot_id}"


class AgentPresence(models.Model):
    class Status(models.TextChoices):
        ONLINE = "online"
        AWAY = "away"
        OFFLINE = "offline"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="presence"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OFFLINE)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user_id} {self.status}"


class Note(models.Model):
    """An agent's internal note on a conversation: never sent to the customer."""

    conversation = models.ForeignKey(
        "memory.Conversation", on_delete=models.CASCADE, related_name="notes"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    text = models.TextField(max_length=4000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"note on {self.conversation_id}"


class CannedResponse(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="canned_responses"
    )
    title = models.CharField(max_length=120)
    text = models.TextField(max_length=4000)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class Csat(models.Model):
    conversation = models.OneToOneField(
        "memory.Conversation", on_delete=models.CASCADE, related_name="csat"
    )
    score = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True, max_length=2000)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(score__gte=1) & Q(score__lte=5), name="csat_score_1_to_5"
            )
        ]

    def __str__(self) -> str:
        return f"csat {self.score} on {self.conversation_id}"


class OfflineMessage(models.Model):
    """Left by a customer outside business hours instead of waiting for an agent."""

    conversation = models.ForeignKey(
        "memory.Conversation", on_delete=models.CASCADE, related_name="offline_messages"
    )
    email = models.EmailField()
    text = models.TextField(max_length=4000)
    handled = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"offline message on {self.conversation_id}"


class Handoff(models.Model):
    """One trip of a conversation to the humans: asked, claimed, ended, and its summary.

    The summary (what the customer wants, what was tried, sentiment, open questions) is
    written by the model on the `llm` queue when the conversation starts waiting.
    """

    class SummaryStatus(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    conversation = models.ForeignKey(
        "memory.Conversation", on_delete=models.CASCADE, related_name="handoffs"
    )
    reason = models.CharField(max_length=40)
    requested_at = models.DateTimeField(auto_now_add=True, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    up_to_seq = models.PositiveBigIntegerField(default=0)
    summary_status = models.CharField(
        max_length=8, choices=SummaryStatus.choices, default=SummaryStatus.PENDING
    )
    summary = models.TextField(blank=True)

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            # At most one open trip per conversation.
            models.UniqueConstraint(
                fields=["conversation"], condition=Q(ended_at__isnull=True), name="handoff_one_open"
            )
        ]

    def __str__(self) -> str:
        return f"handoff of {self.conversation_id} ({self.reason})"


class LoginFailure(models.Model):
    """One failed console login; counted per username + IP for the lockout."""

    username = models.CharField(max_length=150)
    ip = models.GenericIPAddressField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["username", "ip", "created_at"])]

    def __str__(self) -> str:
        return f"failed login {self.username}"


class AuditEvent(models.Model):
    """Who did what, when: every agent action in the console."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="audit_events"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=40)
    conversation = models.ForeignKey(
        "memory.Conversation", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.actor_id} {self.action}"
