"""Keeping the rollups current: mark hours dirty as data arrives, recompute them in batches.

`rebuild(org, start, end)` recomputes every rollup attributed to [start, end) from the raw
log with a handful of set-based queries (a delete and a bulk insert per table, in one
transaction), so it is idempotent: running it twice, or concurrently with new writes
followed by another mark, converges on the truth.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.db.models.functions import TruncDate, TruncHour

from desk.models import Csat
from memory.conversations.models import Conversation, Feedback, Message

from .buckets import bucket_sql
from .models import (
    SUMMED_COUNTS,
    AgentHourlyRollup,
    DailyRollup,
    DirtyHour,
    HourlyRollup,
    KnowledgeGap,
    TopicDailyRollup,
)

HOUR = timedelta(hours=1)


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def mark_dirty(organization_id: int, moments: Iterable[datetime | None]) -> bool:
    """Queue the hours of `moments` for recomputation; True if a new hour was queued."""
    hours = sorted({floor_hour(m) for m in moments if m is not None})
    if not hours:
        return False
    # One statement on the message hot path; RETURNING tells whether the mark is new.
    values = ", ".join(["(%s, %s, now())"] * len(hours))
    params: list[int | datetime] = []
    for hour in hours:
        params += [organization_id, hour]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO analytics_dirtyhour (organization_id, hour, marked_at) VALUES {values} "  # noqa: S608
            "ON CONFLICT (organization_id, hour) DO NOTHING RETURNING id",
            params,
        )
        return bool(cursor.fetchall())


def refresh_dirty(limit: int = 500) -> int:
    """Recompute queued hours (oldest first); returns how many were done."""
    done = 0
    days: set[tuple[int, datetime]] = set()
    for dirty in DirtyHour.objects.order_by("hour")[:limit]:
        # Removed before rebuilding: a write landing meanwhile marks the hour again.
        if DirtyHour.objects.filter(pk=dirty.pk).delete()[0]:
            rebuild(dirty.organization_id, dirty.hour, dirty.hour + HOUR, days=False)
            days.add((dirty.organization_id, dirty.hour.replace(hour=0)))
            done += 1
    for organization_id, day in sorted(days):
        _rebuild_days(organization_id, day, day + timedelta(days=1))
    return done


def rebuild(organization_id: int, start: datetime, end: datetime, *, days: bool = True) -> None:
    """Recompute all rollups attributed to hours in [start, end) of one organization."""
    rows: dict[tuple[int, datetime], dict[str, Any]] = defaultdict(dict)
    row: Any
    org = {"organization_id": organization_id}
    window = {"created_at__gte": start, "created_at__lt": end}

    agent_messages = Message.objects.filter(conversation=OuterRef("pk"), role=Message.Role.AGENT)
    for row in (
        Conversation.objects.filter(**org, **window)
        .annotate(hour=TruncHour("created_at"), had_agent=Exists(agent_messages))
        .values("bot_id", "hour")
        .annotate(
            conversations=Count("id"),
            contained=Count(
                "id",
                filter=Q(
                    status=Conversation.Status.RESOLVED,
                    assignee__isnull=True,
                    handoff_reason="",
                    had_agent=False,
                ),
            ),
            handed_off=Count(
                "id",
                filter=~Q(handoff_reason="")
                | Q(assignee__isnull=False)
                | Q(status__in=[Conversation.Status.WAITING, Conversation.Status.AGENT])
                | Q(had_agent=True),
            ),
        )
    ):
        rows[(row["bot_id"], row["hour"])].update(
            conversations=row["conversations"],
            contained=row["contained"],
            handoffs=row["handed_off"],
        )

    messages = Message.objects.filter(conversation__organization_id=organization_id, **window)
    done = [Message.Status.FINAL, Message.Status.FAILED]
    for row in (
        messages.annotate(hour=TruncHour("created_at"))
        .values("conversation__bot_id", "hour")
        .annotate(
            user_messages=Count("id", filter=Q(role=Message.Role.USER)),
            bot_messages=Count("id", filter=Q(role=Message.Role.BOT, status__in=done)),
            agent_messages=Count("id", filter=Q(role=Message.Role.AGENT)),
            tokens=Sum("completion_tokens", filter=Q(role=Message.Role.BOT)),
            no_knowledge=Count(
                "id",
                filter=Q(role=Message.Role.BOT, status=Message.Status.FINAL, sources=[]),
            ),
            sentiment_sum=Sum("sentiment", filter=Q(role=Message.Role.USER)),
            sentiment_count=Count("sentiment", filter=Q(role=Message.Role.USER)),
        )
    ):
        key = (row.pop("conversation__bot_id"), row.pop("hour"))
        row["tokens"] = row["tokens"] or 0
        row["sentiment_sum"] = row["sentiment_sum"] or 0.0
        rows[key].update(row)

    for row in (
        Feedback.objects.filter(message__conversation__organization_id=organization_id, **window)
        .annotate(hour=TruncHour("created_at"))
        .values("message__conversation__bot_id", "hour")
        .annotate(
            helpful=Count("id", filter=Q(rating=Feedback.Rating.HELPFUL)),
            not_helpful=Count("id", filter=Q(rating=Feedback.Rating.NOT_HELPFUL)),
        )
    ):
        rows[(row["message__conversation__bot_id"], row["hour"])].update(
            helpful=row["helpful"], not_helpful=row["not_helpful"]
        )

    agents: dict[tuple[int, datetime], dict[str, int]] = defaultdict(dict)
    for row in (
        messages.filter(role=Message.Role.AGENT, author__isnull=False)
        .annotate(hour=TruncHour("created_at"))
        .values("author_id", "hour")
        .annotate(n=Count("id"))
    ):
        agents[(row["author_id"], row["hour"])]["messages"] = row["n"]
    for row in (
        Conversation.objects.filter(
            **org,
            status=Conversation.Status.RESOLVED,
            assignee__isnull=False,
            resolved_at__gte=start,
            resolved_at__lt=end,
        )
        .annotate(hour=TruncHour("resolved_at"))
        .values("assignee_id", "hour")
        .annotate(n=Count("id"))
    ):
        agents[(row["assignee_id"], row["hour"])]["resolved"] = row["n"]

    scores = Csat.objects.filter(conversation__organization_id=organization_id, **window)
    for row in (
        scores.annotate(hour=TruncHour("created_at"))
        .values("conversation__bot_id", "hour")
        .annotate(total=Sum("score"), n=Count("id"))
    ):
        rows[(row["conversation__bot_id"], row["hour"])].update(
            csat_sum=row["total"] or 0, csat_count=row["n"]
        )
    for row in (
        scores.filter(agent__isnull=False)
        .annotate(hour=TruncHour("created_at"))
        .values("agent_id", "hour")
        .annotate(total=Sum("score"), n=Count("id"))
    ):
        agents[(row["agent_id"], row["hour"])].update(
            csat_sum=row["total"] or 0, csat_count=row["n"]
        )

    with transaction.atomic():
        HourlyRollup.objects.filter(**org, hour__gte=start, hour__lt=end).delete()
        HourlyRollup.objects.bulk_create(
            [
                HourlyRollup(organization_id=organization_id, bot_id=bot_id, hour=hour, **values)
                for (bot_id, hour), values in rows.items()
            ],
            batch_size=2000,
        )
        AgentHourlyRollup.objects.filter(**org, hour__gte=start, hour__lt=end).delete()
        AgentHourlyRollup.objects.bulk_create(
            [
                AgentHourlyRollup(
                    organization_id=organization_id, agent_id=agent_id, hour=hour, **values
                )
                for (agent_id, hour), values in agents.items()
            ],
            batch_size=2000,
        )
        _rebuild_gaps(organization_id, start, end)
    if days:
        _rebuild_days(organization_id, start, end)


def _histogram_rows(
    organization_id: int, start: datetime, end: datetime, column: str
) -> list[tuple[int, date, int, int]]:
    """(bot, UTC day, bucket, count) of final replies' latencies in [start, end)."""
    assert column in ("ttft_ms", "total_ms")
    sql = f"""
        SELECT c.bot_id, (m.created_at AT TIME ZONE 'UTC')::date,
               {bucket_sql("m." + column)} AS bucket, COUNT(*)
        FROM memory_message m JOIN memory_conversation c ON c.id = m.conversation_id
        WHERE c.organization_id = %s AND m.created_at >= %s AND m.created_at < %s
          AND m.role = 'bot' AND m.status = 'final' AND m.{column} IS NOT NULL
        GROUP BY 1, 2, 3
    """  # noqa: S608 - column is one of two fixed names
    with connection.cursor() as cursor:
        cursor.execute(sql, [organization_id, start, end])
        return [(int(b), h, int(k), int(n)) for b, h, k, n in cursor.fetchall()]


def _rebuild_gaps(organization_id: int, start: datetime, end: datetime) -> None:
    """Questions asked in [start, end) whose reply had no source or was marked not helpful."""
    KnowledgeGap.objects.filter(
        organization_id=organization_id, asked_at__gte=start, asked_at__lt=end
    ).delete()
    not_helpful = Feedback.objects.filter(
        message=OuterRef("reply"), rating=Feedback.Rating.NOT_HELPFUL
    )
    questions = (
        Message.objects.filter(
            conversation__organization_id=organization_id,
            role=Message.Role.USER,
            created_at__gte=start,
            created_at__lt=end,
            reply__status=Message.Status.FINAL,
        )
        .annotate(marked=Exists(not_helpful))
        .filter(Q(reply__sources=[]) | Q(marked=True))
        .values("id", "conversation__bot_id", "topic", "text", "created_at", "marked")
    )
    KnowledgeGap.objects.bulk_create(
        [
            KnowledgeGap(
                organization_id=organization_id,
                bot_id=q["conversation__bot_id"],
                question_id=q["id"],
                topic=q["topic"],
                text=q["text"][:2000],
                reason=(
                    KnowledgeGap.Reason.NOT_HELPFUL
                    if q["marked"]
                    else KnowledgeGap.Reason.NO_KNOWLEDGE
                ),
                asked_at=q["created_at"],
            )
            for q in questions
        ],
        batch_size=2000,
    )


def _rebuild_days(organization_id: int, start: datetime, end: datetime) -> None:
    """Daily rollups and topics: recompute every whole UTC day [start, end) touches."""
    first = start.replace(hour=0, minute=0, second=0, microsecond=0)
    last = floor_hour(end - timedelta(microseconds=1)).replace(hour=0) + timedelta(days=1)
    _rebuild_daily(organization_id, first, last)
    _rebuild_topics(organization_id, first, last)


def _rebuild_daily(organization_id: int, first: datetime, last: datetime) -> None:
    days: dict[tuple[int, date], dict[str, Any]] = defaultdict(dict)
    for row in (
        HourlyRollup.objects.filter(organization_id=organization_id, hour__gte=first, hour__lt=last)
        .annotate(day=TruncDate("hour"))
        .values("bot_id", "day")
        .annotate(**{field: Sum(field) for field in SUMMED_COUNTS})
    ):
        values: dict[str, Any] = dict(row)
        days[(values.pop("bot_id"), values.pop("day"))].update(values)
    for column, field in (("ttft_ms", "ttft_hist"), ("total_ms", "total_hist")):
        for bot_id, day, bucket, count in _histogram_rows(organization_id, first, last, column):
            days[(bot_id, day)].setdefault(field, {})[str(bucket)] = count
    with transaction.atomic():
        DailyRollup.objects.filter(
            organization_id=organization_id, day__gte=first.date(), day__lt=last.date()
        ).delete()
        DailyRollup.objects.bulk_create(
            [
                DailyRollup(organization_id=organization_id, bot_id=bot_id, day=day, **values)
                for (bot_id, day), values in days.items()
            ],
            batch_size=2000,
        )


def _rebuild_topics(organization_id: int, first: datetime, last: datetime) -> None:
    """Questions, sentiment and knowledge gaps per (bot, day, topic)."""
    topics: dict[tuple[int, date, str], dict[str, Any]] = defaultdict(dict)
    for row in (
        Message.objects.filter(
            conversation__organization_id=organization_id,
            role=Message.Role.USER,
            created_at__gte=first,
            created_at__lt=last,
        )
        .annotate(day=TruncDate("created_at"), bot_id=F("conversation__bot_id"))
        .values("bot_id", "day", "topic")
        .annotate(
            questions=Count("id"),
            sentiment_sum=Sum("sentiment"),
            sentiment_count=Count("sentiment"),
        )
    ):
        topics[(row["bot_id"], row["day"], row["topic"] or "")].update(
            questions=row["questions"],
            sentiment_sum=row["sentiment_sum"] or 0.0,
            sentiment_count=row["sentiment_count"],
        )
    for gap in (
        KnowledgeGap.objects.filter(
            organization_id=organization_id, asked_at__gte=first, asked_at__lt=last
        )
        .annotate(day=TruncDate("asked_at"))
        .values("bot_id", "day", "topic")
        .annotate(
            no_knowledge=Count("id", filter=Q(reason=KnowledgeGap.Reason.NO_KNOWLEDGE)),
            not_helpful=Count("id", filter=Q(reason=KnowledgeGap.Reason.NOT_HELPFUL)),
        )
    ):
        topics[(gap["bot_id"], gap["day"], gap["topic"] or "")].update(
            gaps_no_knowledge=gap["no_knowledge"], gaps_not_helpful=gap["not_helpful"]
        )
    with transaction.atomic():
        TopicDailyRollup.objects.filter(
            organization_id=organization_id, day__gte=first.date(), day__lt=last.date()
        ).delete()
        TopicDailyRollup.objects.bulk_create(
            [
                TopicDailyRollup(
                    organization_id=organization_id, bot_id=bot_id, day=day, topic=topic, **values
                )
                for (bot_id, day, topic), values in topics.items()
            ],
            batch_size=2000,
        )
