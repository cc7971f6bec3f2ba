"""Rollups the dashboard reads instead of the raw log, and the queue of hours to recompute.

Each metric is attributed to the hour its own event happened in (a conversation to the hour
it was opened, feedback to the hour it was given, …). Latency percentiles come from
log-scale histograms (`buckets.py`), which merge across hours and bots.
"""

from __future__ import annotations

from django.db import models

# The rollup columns that add up across hours, days and bots.
SUMMED_COUNTS = (
    "conversations",
    "contained",
    "handoffs",
    "user_messages",
    "bot_messages",
    "agent_messages",
    "tokens",
    "no_knowledge",
    "helpful",
    "not_helpful",
    "csat_sum",
    "csat_count",
    "sentiment_sum",
    "sentiment_count",
)


class BotCounts(models.Model):
    """What one bot did in a period: the counters the hourly and daily rollups share."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    bot = models.ForeignKey("bots.Bot", on_delete=models.CASCADE, related_name="+")
    conversations = models.PositiveIntegerField(default=0)
    contained = models.PositiveIntegerField(default=0, help_text="Resolved, never with an agent.")
    handoffs = models.PositiveIntegerField(default=0)
    user_messages = models.PositiveIntegerField(default=0)
    bot_messages = models.PositiveIntegerField(default=0)
    agent_messages = models.PositiveIntegerField(default=0)
    tokens = models.PositiveBigIntegerField(default=0)
    no_knowledge = models.PositiveIntegerField(default=0, help_text="Replies with no source.")
    helpful = models.PositiveIntegerField(default=0)
    not_helpful = models.PositiveIntegerField(default=0)
    csat_sum = models.PositiveIntegerField(default=0)
    csat_count = models.PositiveIntegerField(default=0)
    sentiment_sum = models.FloatField(default=0.0)
    sentiment_count = models.PositiveIntegerField(default=0)

    class Meta:
        abstract = True


class HourlyRollup(BotCounts):
    hour = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bot", "hour"], name="hourly_rollup_unique"),
        ]
        indexes = [models.Index(fields=["organization", "hour"])]

    def __str__(self) -> str:
        return f"{self.bot_id} @ {self.hour:%Y-%m-%d %H}h"


class DailyRollup(BotCounts):
    """The hourly counts summed per UTC day, plus the day's latency histograms.

    Dashboard ranges are whole days, so the figures read a few hundred of these rows;
    the hourly rows remain for the hour-of-day chart.
    """

    day = models.DateField()
    ttft_hist = models.JSONField(default=dict, help_text="{bucket: count}, see buckets.py")
    total_hist = models.JSONField(default=dict, help_text="{bucket: count}, see buckets.py")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bot", "day"], name="daily_rollup_unique"),
        ]
        indexes = [models.Index(fields=["organization", "day"])]

    def __str__(self) -> str:
        return f"{self.bot_id} @ {self.day}"


class AgentHourlyRollup(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    agent = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    messages = models.PositiveIntegerField(default=0)
    resolved = models.PositiveIntegerField(default=0)
    csat_sum = models.PositiveIntegerField(default=0)
    csat_count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "agent", "hour"], name="agent_rollup_unique"
            ),
        ]
        indexes = [models.Index(fields=["organization", "hour"])]

    def __str__(self) -> str:
        return f"agent {self.agent_id} @ {self.hour:%Y-%m-%d %H}h"


class TopicDailyRollup(models.Model):
    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    bot = models.ForeignKey("bots.Bot", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    topic = models.CharField(max_length=100)
    questions = models.PositiveIntegerField(default=0)
    sentiment_sum = models.FloatField(default=0.0)
    sentiment_count = models.PositiveIntegerField(default=0)
    gaps_no_knowledge = models.PositiveIntegerField(default=0)
    gaps_not_helpful = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["bot", "day", "topic"], name="topic_rollup_unique"),
        ]
        indexes = [models.Index(fields=["organization", "day"])]

    def __str__(self) -> str:
        return f"{self.topic} {self.day}"


class KnowledgeGap(models.Model):
    """A customer question the knowledge base did not cover: no source, or marked not helpful."""

    class Reason(models.TextChoices):
        NO_KNOWLEDGE = "no_knowledge", "No relevant knowledge"
        NOT_HELPFUL = "not_helpful", "Marked not helpful"

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    bot = models.ForeignKey("bots.Bot", on_delete=models.CASCADE, related_name="+")
    question = models.OneToOneField(
        "memory.Message", on_delete=models.CASCADE, related_name="+", help_text="The user message."
    )
    topic = models.CharField(max_length=100, blank=True)
    text = models.TextField()
    reason = models.CharField(max_length=12, choices=Reason.choices)
    asked_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["organization", "asked_at"]),
            models.Index(fields=["organization", "topic", "-asked_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.reason}: {self.text[:40]}"


class DirtyHour(models.Model):
    """An hour whose rollups are stale; `refresh_rollups` recomputes and removes it."""

    organization = models.ForeignKey(
        "accounts.Organization", on_delete=models.CASCADE, related_name="+"
    )
    hour = models.DateTimeField()
    marked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "hour"], name="dirty_hour_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.organization_id} {self.hour:%Y-%m-%d %H}h"
