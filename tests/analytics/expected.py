"""The dashboard's figures computed straight from the raw tables, independently of the rollups."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from django.db.models import Exists, OuterRef, Q, Sum

from desk.models import Csat
from memory.conversations.models import Conversation, Feedback, Message


def nearest_rank(values: list[int], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return float(ordered[max(1, math.ceil(q * len(ordered))) - 1])


def expected_summary(
    org_id: int, low: datetime, high: datetime, bot_id: int | None = None
) -> dict[str, Any]:
    conversations = Conversation.objects.filter(
        organization_id=org_id, created_at__gte=low, created_at__lt=high
    )
    messages = Message.objects.filter(
        conversation__organization_id=org_id, created_at__gte=low, created_at__lt=high
    )
    feedback = Feedback.objects.filter(
        message__conversation__organization_id=org_id, created_at__gte=low, created_at__lt=high
    )
    csat = Csat.objects.filter(
        conversation__organization_id=org_id, created_at__gte=low, created_at__lt=high
    )
    if bot_id is not None:
        conversations = conversations.filter(bot_id=bot_id)
        messages = messages.filter(conversation__bot_id=bot_id)
        feedback = feedback.filter(message__conversation__bot_id=bot_id)
        csat = csat.filter(conversation__bot_id=bot_id)
    agent_messages = Message.objects.filter(conversation=OuterRef("pk"), role="agent")
    annotated = conversations.annotate(had_agent=Exists(agent_messages))
    total = conversations.count()
    contained = annotated.filter(
        status="resolved", assignee__isnull=True, handoff_reason="", had_agent=False
    ).count()
    handed = annotated.filter(
        ~Q(handoff_reason="")
        | Q(assignee__isnull=False)
        | Q(status__in=["waiting", "agent"])
        | Q(had_agent=True)
    ).count()
    counted = messages.filter(
        Q(role__in=["user", "agent"]) | Q(role="bot", status__in=["final", "failed"])
    )
    finals = messages.filter(role="bot", status="final")
    helpful = feedback.filter(rating="helpful").count()
    rated = feedback.count()
    scores = list(csat.values_list("score", flat=True))
    return {
        "conversations": total,
        "messages": counted.count(),
        "containment_rate": contained / total if total else None,
        "handoff_rate": handed / total if total else None,
        "helpful_ratio": helpful / rated if rated else None,
        "csat_average": sum(scores) / len(scores) if scores else None,
        "ttft_p50_ms": nearest_rank(list(finals.values_list("ttft_ms", flat=True)), 0.5),
        "ttft_p95_ms": nearest_rank(list(finals.values_list("ttft_ms", flat=True)), 0.95),
        "total_p50_ms": nearest_rank(list(finals.values_list("total_ms", flat=True)), 0.5),
        "total_p95_ms": nearest_rank(list(finals.values_list("total_ms", flat=True)), 0.95),
        "tokens": messages.filter(role="bot").aggregate(n=Sum("completion_tokens"))["n"] or 0,
    }
