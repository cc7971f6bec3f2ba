"""When a conversation should go to a human, per bot (desk.HandoffPolicy), and business hours.

The free-text intent ("can I talk to a person?") is the topics app's `wants_human` rules.
"""

from __future__ import annotations

import functools
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import connection
from django.utils import timezone

from bots.models import Bot
from bots.topics.selectors import wants_human
from core.rows import Columns
from desk.models import HandoffPolicy
from memory.conversations.models import Conversation, Feedback, Message

_POLICY = Columns(HandoffPolicy, "p")


@functools.cache
def _policy_and_sentiments_sql() -> str:
    window = HandoffPolicy._meta.get_field("sentiment_window").get_default()
    return f"""
SELECT {_POLICY.sql}, ARRAY(
  SELECT m.sentiment FROM {Message._meta.db_table} m
  WHERE m.conversation_id = %s AND m.role = %s AND m.sentiment IS NOT NULL
  ORDER BY m.seq DESC LIMIT coalesce(p.sentiment_window, {int(window)}))
FROM (SELECT 1) AS one LEFT JOIN {HandoffPolicy._meta.db_table} p ON p.bot_id = %s
"""  # noqa: S608 - table names from the models, values as parameters


def policy_and_recent_sentiments(conversation: Conversation) -> tuple[HandoffPolicy, list[float]]:
    """The bot's policy, and the sentiments of the conversation's latest customer messages
    (newest first, as many as the policy's window): one statement, as every customer message
    asks (core.rows)."""
    with connection.cursor() as cursor:
        cursor.execute(
            _policy_and_sentiments_sql(),
            [conversation.pk, Message.Role.USER, conversation.bot_id],
        )
        row = cursor.fetchone()
    policy = _POLICY.load(row) if row[0] is not None else HandoffPolicy(bot_id=conversation.bot_id)
    return policy, [float(score) for score in row[-1]]


def policy_for(bot: Bot | int) -> HandoffPolicy:
    bot_id = bot if isinstance(bot, int) else bot.pk
    policy = HandoffPolicy.objects.filter(bot_id=bot_id).first()
    return policy if policy is not None else HandoffPolicy(bot_id=bot_id)


def customer_wants_human(text: str) -> bool:
    return wants_human(text)


def is_open(policy: HandoffPolicy, now: datetime | None = None) -> bool:
    """Inside the bot's business hours (agents are there)."""
    local = (now or timezone.now()).astimezone(ZoneInfo(policy.timezone or "UTC"))
    if policy.weekdays and local.weekday() not in policy.weekdays:
        return False
    if policy.open_hour == policy.close_hour:
        return True
    if policy.open_hour < policy.close_hour:
        return policy.open_hour <= local.hour < policy.close_hour
    return local.hour >= policy.open_hour or local.hour < policy.close_hour  # overnight


def not_helpful_streak(conversation: Conversation) -> int:
    """'Not helpful' ratings on the most recent rated bot replies, in a row."""
    ratings = (
        Feedback.objects.filter(message__conversation=conversation)
        .order_by("-message__seq")
        .values_list("rating", flat=True)[:10]
    )
    streak = 0
    for rating in ratings:
        if rating != Feedback.Rating.NOT_HELPFUL:
            break
        streak += 1
    return streak


def sentiment_trending_negative(policy: HandoffPolicy, scores: list[float]) -> bool:
    """The latest `sentiment_window` customer messages average at or below the threshold;
    `scores`: their sentiments, newest first (`policy_and_recent_sentiments`)."""
    scores = scores[: policy.sentiment_window]
    if len(scores) < policy.sentiment_window or not scores:
        return False
    return sum(scores) / len(scores) <= policy.sentiment_threshold
