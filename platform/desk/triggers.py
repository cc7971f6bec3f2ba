"""When a conversation should go to a human, per bot (desk.HandoffPolicy), and business hours.

The free-text intent ("can I talk to a person?") is the topics app's `wants_human` rules.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.utils import timezone

from bots.models import Bot
from bots.topics.selectors import wants_human
from desk.models import HandoffPolicy
from memory.models import Conversation, Feedback, Message


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


def sentiment_trending_negative(conversation: Conversation, policy: HandoffPolicy) -> bool:
    scores = [
        score
        for score in Message.objects.filter(
            conversation=conversation, role=Message.Role.USER, sentiment__isnull=False
        )
        .order_by("-seq")
        .values_list("sentiment", flat=True)[: policy.sentiment_window]
        if score is not None
    ]
    if len(scores) < policy.sentiment_window or not scores:
        return False
    return sum(scores) / len(scores) <= policy.sentiment_threshold
