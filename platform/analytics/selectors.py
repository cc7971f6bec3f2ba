"""Dashboard reads: every figure comes from the rollups, never from a scan of the raw log.

A range is whole UTC days, `start` and `end` included. The few raw reads left (the answers
marked not helpful, the example questions of a gap) are bounded by LIMIT and indexed.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import F, QuerySet, Sum
from django.db.models.functions import ExtractHour

from bots.models import Bot
from memory.conversations.models import Feedback

from . import buckets
from .models import (
    SUMMED_COUNTS,
    AgentHourlyRollup,
    DailyRollup,
    HourlyRollup,
    KnowledgeGap,
    TopicDailyRollup,
)


def bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return (
        datetime.combine(start, time.min, tzinfo=UTC),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC),
    )


def _hourly(org_id: int, start: date, end: date, bot_id: int | None) -> QuerySet[HourlyRollup]:
    low, high = bounds(start, end)
    rows = HourlyRollup.objects.filter(organization_id=org_id, hour__gte=low, hour__lt=high)
    return rows.filter(bot_id=bot_id) if bot_id is not None else rows


def _daily(org_id: int, start: date, end: date, bot_id: int | None) -> QuerySet[DailyRollup]:
    rows = DailyRollup.objects.filter(organization_id=org_id, day__gte=start, day__lte=end)
    return rows.filter(bot_id=bot_id) if bot_id is not None else rows


def _ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def _derive(totals: dict[str, Any], ttft: dict[int, int], total: dict[int, int]) -> dict[str, Any]:
    t = {key: totals.get(key) or 0 for key in SUMMED_COUNTS}
    rated = t["helpful"] + t["not_helpful"]
    return {
        "conversations": t["conversations"],
        "messages": t["user_messages"] + t["bot_messages"] + t["agent_messages"],
        "containment_rate": _ratio(t["contained"], t["conversations"]),
        "handoff_rate": _ratio(t["handoffs"], t["conversations"]),
        "helpful_ratio": _ratio(t["helpful"], rated),
        "csat_average": round(t["csat_sum"] / t["csat_count"], 2) if t["csat_count"] else None,
        "ttft_p50_ms": buckets.percentile(ttft, 0.50),
        "ttft_p95_ms": buckets.percentile(ttft, 0.95),
        "total_p50_ms": buckets.percentile(total, 0.50),
        "total_p95_ms": buckets.percentile(total, 0.95),
        "tokens": int(t["tokens"]),
    }


def summary(org_id: int, start: date, end: date, bot_id: int | None = None) -> dict[str, Any]:
    rows = _daily(org_id, start, end, bot_id)
    totals = rows.aggregate(**{key: Sum(key) for key in SUMMED_COUNTS})
    hists = _histograms(org_id, start, end, bot_id)
    return _derive(totals, hists.get(("ttft_hist", None), {}), hists.get(("total_hist", None), {}))


def _histograms(
    org_id: int, start: date, end: date, bot_id: int | None = None, *, by_bot: bool = False
) -> dict[tuple[str, int | None], dict[int, int]]:
    """Latency histograms summed in Postgres: {(field, bot id or None): {bucket: count}}."""
    out: dict[tuple[str, int | None], dict[int, int]] = {}
    bot_filter = "AND bot_id = %s" if bot_id is not None else ""
    for field in ("ttft_hist", "total_hist"):
        sql = f"""
            SELECT {"bot_id" if by_bot else "NULL"}, h.key::int, SUM(h.value::bigint)
            FROM analytics_dailyrollup, jsonb_each_text({field}) AS h
            WHERE organization_id = %s AND day >= %s AND day <= %s {bot_filter}
            GROUP BY 1, 2
        """  # noqa: S608 - field and filter are fixed strings of ours
        params: list[int | date] = [org_id, start, end]
        if bot_id is not None:
            params.append(bot_id)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            for bot, bucket, count in cursor.fetchall():
                out.setdefault((field, bot), {})[int(bucket)] = int(count)
    return out


def per_bot(org_id: int, start: date, end: date) -> list[dict[str, Any]]:
    rows = _daily(org_id, start, end, None)
    names = dict(Bot.objects.filter(organization_id=org_id).values_list("id", "name"))
    totals: dict[int, dict[str, Any]] = {
        row["bot_id"]: dict(row)
        for row in rows.values("bot_id").annotate(**{key: Sum(key) for key in SUMMED_COUNTS})
    }
    hists = _histograms(org_id, start, end, by_bot=True)
    return [
        {
            "bot_id": bot_id,
            "bot": names.get(bot_id, f"bot {bot_id}"),
            **_derive(
                totals[bot_id],
                hists.get(("ttft_hist", bot_id), {}),
                hists.get(("total_hist", bot_id), {}),
            ),
        }
        for bot_id in sorted(totals, key=lambda b: names.get(b, ""))
    ]


def summary_and_per_bot(
    org_id: int, start: date, end: date, bot_id: int | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The overview's two reads from one pass: totals (of `bot_id`, or all) and per bot."""
    names = dict(Bot.objects.filter(organization_id=org_id).values_list("id", "name"))
    totals: dict[int, dict[str, Any]] = {
        row["bot_id"]: dict(row)
        for row in _daily(org_id, start, end, None)
        .values("bot_id")
        .annotate(**{key: Sum(key) for key in SUMMED_COUNTS})
    }
    hists = _histograms(org_id, start, end, by_bot=True)
    chosen = [b for b in totals if bot_id is None or b == bot_id]
    overall = {key: sum(totals[b][key] or 0 for b in chosen) for key in SUMMED_COUNTS}
    merged = {
        field: buckets.merge(
            {str(k): v for k, v in hists.get((field, b), {}).items()} for b in chosen
        )
        for field in ("ttft_hist", "total_hist")
    }
    per_bot = [
        {
            "bot_id": b,
            "bot": names.get(b, f"bot {b}"),
            **_derive(totals[b], hists.get(("ttft_hist", b), {}), hists.get(("total_hist", b), {})),
        }
        for b in sorted(totals, key=lambda b: names.get(b, ""))
    ]
    return _derive(overall, merged["ttft_hist"], merged["total_hist"]), per_bot


def helpful_ratio(org_id: int, start: date, end: date, bot_id: int | None = None) -> float | None:
    rated = _daily(org_id, start, end, bot_id).aggregate(
        helpful=Sum("helpful"), not_helpful=Sum("not_helpful")
    )
    helpful, unhelpful = rated["helpful"] or 0, rated["not_helpful"] or 0
    return _ratio(helpful, helpful + unhelpful)


def per_agent(org_id: int, start: date, end: date) -> list[dict[str, Any]]:
    low, high = bounds(start, end)
    rows = (
        AgentHourlyRollup.objects.filter(organization_id=org_id, hour__gte=low, hour__lt=high)
        .values("agent_id")
        .annotate(
            messages=Sum("messages"),
            resolved=Sum("resolved"),
            csat_sum=Sum("csat_sum"),
            csat_count=Sum("csat_count"),
        )
    )
    users = get_user_model().objects.in_bulk([row["agent_id"] for row in rows])
    out = []
    for row in rows:
        user = users.get(row["agent_id"])
        out.append(
            {
                "agent_id": row["agent_id"],
                "agent": user.get_username() if user else f"user {row['agent_id']}",
                "messages": row["messages"] or 0,
                "resolved": row["resolved"] or 0,
                "csat_average": (
                    round(row["csat_sum"] / row["csat_count"], 2) if row["csat_count"] else None
                ),
            }
        )
    return sorted(out, key=lambda r: str(r["agent"]))


def daily(org_id: int, start: date, end: date, bot_id: int | None = None) -> list[dict[str, Any]]:
    """Per day: conversations, messages, sentiment average (for the trend charts)."""
    rows = (
        _daily(org_id, start, end, bot_id)
        .values("day")
        .annotate(
            conversations=Sum("conversations"),
            messages=Sum(F("user_messages") + F("bot_messages") + F("agent_messages")),
            sentiment_sum=Sum("sentiment_sum"),
            sentiment_count=Sum("sentiment_count"),
        )
    )
    by_day: dict[date, dict[str, Any]] = {row["day"]: dict(row) for row in rows}
    out = []
    day = start
    while day <= end:
        row = by_day.get(day, {})
        count = row.get("sentiment_count") or 0
        out.append(
            {
                "day": day.isoformat(),
                "conversations": row.get("conversations") or 0,
                "messages": row.get("messages") or 0,
                "sentiment": round(row["sentiment_sum"] / count, 3) if count else None,
            }
        )
        day += timedelta(days=1)
    return out


def busiest_hours(
    org_id: int, start: date, end: date, bot_id: int | None = None
) -> list[dict[str, int]]:
    """Customer messages by hour of day (UTC)."""
    rows = (
        _hourly(org_id, start, end, bot_id)
        .annotate(hour_of_day=ExtractHour("hour"))
        .values("hour_of_day")
        .annotate(messages=Sum("user_messages"))
    )
    counts = {row["hour_of_day"]: row["messages"] or 0 for row in rows}
    return [{"hour": hour, "messages": counts.get(hour, 0)} for hour in range(24)]


def _topics(org_id: int, start: date, end: date, bot_id: int | None) -> QuerySet[TopicDailyRollup]:
    rows = TopicDailyRollup.objects.filter(organization_id=org_id, day__gte=start, day__lte=end)
    return rows.filter(bot_id=bot_id) if bot_id is not None else rows


def topic_breakdown(
    org_id: int, start: date, end: date, bot_id: int | None = None
) -> list[dict[str, Any]]:
    rows = (
        _topics(org_id, start, end, bot_id)
        .values("topic")
        .annotate(
            questions=Sum("questions"),
            sentiment_sum=Sum("sentiment_sum"),
            sentiment_count=Sum("sentiment_count"),
        )
        .order_by("-questions", "topic")
    )
    return [
        {
            "topic": row["topic"] or "(unclassified)",
            "questions": row["questions"],
            "sentiment": (
                round(row["sentiment_sum"] / row["sentiment_count"], 3)
                if row["sentiment_count"]
                else None
            ),
        }
        for row in rows
    ]


def topic_trend(
    org_id: int, start: date, end: date, bot_id: int | None = None, top: int = 5
) -> dict[str, Any]:
    """Questions per day for the `top` topics of the range."""
    leaders = [row["topic"] for row in topic_breakdown(org_id, start, end, bot_id)[:top]]
    raw = [("(unclassified)" if t == "" else t) for t in leaders]
    keys = ["" if t == "(unclassified)" else t for t in raw]
    counts: dict[tuple[str, date], int] = {}
    for row in (
        _topics(org_id, start, end, bot_id)
        .filter(topic__in=keys)
        .values("topic", "day")
        .annotate(n=Sum("questions"))
    ):
        counts[(row["topic"], row["day"])] = row["n"]
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    return {
        "days": [d.isoformat() for d in days],
        "series": [
            {"topic": label, "counts": [counts.get((key, d), 0) for d in days]}
            for label, key in zip(raw, keys, strict=True)
        ],
    }


def knowledge_gaps(
    org_id: int, start: date, end: date, bot_id: int | None = None, examples: int = 3
) -> list[dict[str, Any]]:
    """Gap counts per topic from the topic rollups; the latest few questions of each."""
    groups = (
        _topics(org_id, start, end, bot_id)
        .values("topic")
        .annotate(no_knowledge=Sum("gaps_no_knowledge"), not_helpful=Sum("gaps_not_helpful"))
        .annotate(questions=F("no_knowledge") + F("not_helpful"))
        .filter(questions__gt=0)
        .order_by("-questions", "topic")[:50]
    )
    low, high = bounds(start, end)
    gaps = KnowledgeGap.objects.filter(organization_id=org_id, asked_at__gte=low, asked_at__lt=high)
    if bot_id is not None:
        gaps = gaps.filter(bot_id=bot_id)
    out = []
    for group in groups:
        sample = gaps.filter(topic=group["topic"]).order_by("-asked_at")[:examples]
        out.append(
            {
                "topic": group["topic"] or "(unclassified)",
                "questions": group["questions"],
                "no_knowledge": group["no_knowledge"],
                "not_helpful": group["not_helpful"],
                "examples": [gap.text for gap in sample.only("text")],
            }
        )
    return out


def not_helpful_answers(
    org_id: int, start: date, end: date, bot_id: int | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    low, high = bounds(start, end)
    rows = Feedback.objects.filter(
        message__conversation__organization_id=org_id,
        rating=Feedback.Rating.NOT_HELPFUL,
        created_at__gte=low,
        created_at__lt=high,
    )
    if bot_id is not None:
        rows = rows.filter(message__conversation__bot_id=bot_id)
    rows = rows.select_related("message", "message__reply_to").order_by("-created_at")[:limit]
    return [
        {
            "at": feedback.created_at.isoformat(timespec="seconds"),
            "question": feedback.message.reply_to.text if feedback.message.reply_to else "",
            "answer": feedback.message.text,
            "comment": feedback.comment,
            "sources": ", ".join(
                str(source.get("title") or source.get("url") or "")
                for source in feedback.message.sources
                if isinstance(source, dict)
            ),
        }
        for feedback in rows
    ]
