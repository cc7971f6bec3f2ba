"""Desk rows: per-bot handoff policy, agent presence and open console sockets, notes, canned
replies, CSAT, offline messages, handoff trips (with their summaries), login failures and the
audit trail.

Who owns a conversation lives on `memory.Conversation` (status + assignee); this app only
changes it through the conditional updates of `memory.conversations.states`.
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
    auto_assign = models.BooleanField(
        default=True,
        help_text="Give waiting conversations to online agents (fewest open first); "
        "off = agents claim from the queue.",
    )
    max_open_per_agent = models.PositiveSmallIntegerField(
        default=5,
        help_text="Auto-assignment stops at this many open conversations per agent in the "
        "organization; 0 = no limit. Agents may still claim more by hand.",
    )

    def __str__(self) -> str:
        return f"handoff policy of {self.bot_id}"


class AgentPresence(models.Model):
    """What everyone sees of an agent (`status`) and what the agent chose (`chosen`).

    `status` is `chosen` while the agent has a live console socket (`ConsoleSocket`), and
    `offline` once the last one is gone; `desk.presence` keeps it so.
    """

    class Status(models.TextChoices):
        ONLINE = "online"
        AWAY = "away"
        OFFLINE = "offline"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="presence"
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OFFLINE)
    chosen = models.CharField(
        max_length=8,
        choices=[(Status.ONLINE, "Online"), (Status.AWAY, "Away")],
        default=Status.ONLINE,
        help_text="Set by the agent; kept across tabs and logins until they change it.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user_id} {self.status}"


class ConsoleSocket(models.Model):
    """One open console socket (a tab). The web process beats `seen_at`; a row it stopped
    beating (the process crashed) no longer counts once it is older than the expiry."""

    BEAT_S = 20  # the consumer touches `seen_at` this often
    EXPIRES_S = 60  # three missed beats: the process holding the socket is gone

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="console_sockets"
    )
    channel_name = models.CharField(max_length=200, unique=True)
    opened_at = models.DateTimeField(auto_now_add=True)
    seen_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"console socket of {self.user_id}"


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

    The summary (the customer's questions, the bot's answer and its sources, why, topic,
    sentiment: `desk.summary`) is written with the row when the trip starts, `done` (or
    `failed` when it could not be built). `pending`/`running` were the model task's states.
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
