"""Analytics over the rollups (the same numbers the dashboard shows)."""

from __future__ import annotations

from datetime import date

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.errors import HttpError

from analytics import selectors

from ..auth import caller_of
from ..schemas import ERRORS

router = Router(tags=["analytics"])


class RangeParams(Schema):
    start: date
    end: date
    bot_id: int | None = None


class SummaryOut(Schema):
    start: date
    end: date
    conversations: int
    messages: int
    containment_rate: float | None
    handoff_rate: float | None
    helpful_ratio: float | None
    csat_average: float | None
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    total_p50_ms: float | None
    total_p95_ms: float | None
    tokens: int


@router.get("/analytics/summary", response={200: SummaryOut, **ERRORS})
def analytics_summary(request: HttpRequest, params: Query[RangeParams]) -> dict[str, object]:
    if params.end < params.start or (params.end - params.start).days > 366:
        raise HttpError(422, "end must be on or after start, at most 366 days later.")
    summary = selectors.summary(
        caller_of(request).organization_id, params.start, params.end, params.bot_id
    )
    return {"start": params.start, "end": params.end, **summary}
