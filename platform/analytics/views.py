"""The dashboard (owners and admins): overview, topics, feedback, knowledge gaps; CSV of each.

Every view reads `selectors` (rollups), so it answers in the same time at any data volume.
`?format=csv` returns the view's table(s) as CSV instead of the page.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts import access
from accounts.models import Organization
from bots.models import Bot

from . import selectors

LOGIN_URL = "/console/login/"
MAX_DAYS = 366


@dataclass(frozen=True)
class Scope:
    organization: Organization
    organizations: list[Organization]
    start: date
    end: date
    bot_id: int | None
    bots: list[Bot]

    def query(self, **extra: str) -> str:
        params = {"org": str(self.organization.pk), "start": str(self.start), "end": str(self.end)}
        if self.bot_id is not None:
            params["bot"] = str(self.bot_id)
        params.update(extra)
        return urlencode(params)


def _date(value: str | None, default: date) -> date:
    try:
        return date.fromisoformat(value) if value else default
    except ValueError:
        return default


def access_dashboard(request: HttpRequest) -> Scope:
    """The organization (owners and admins only), range and bot asked for; else 404."""
    organizations = list(access.orgs_for_user(request.user, access.ADMIN_ROLES).order_by("name"))
    if not organizations:
        raise Http404("no dashboard")
    wanted = request.GET.get("org", "")
    organization = next((o for o in organizations if str(o.pk) == wanted), organizations[0])
    today = timezone.now().date()
    end = _date(request.GET.get("end"), today)
    start = _date(request.GET.get("start"), end - timedelta(days=29))
    if start > end:
        start, end = end, start
    start = max(start, end - timedelta(days=MAX_DAYS - 1))
    bots = list(Bot.objects.filter(organization=organization).order_by("name"))
    bot_param = request.GET.get("bot", "")
    bot_id = next((b.pk for b in bots if str(b.pk) == bot_param), None)
    return Scope(organization, organizations, start, end, bot_id, bots)


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection):
# such a cell is prefixed with an apostrophe, which the spreadsheet shows as text.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """One CSV cell: None as empty, text that a spreadsheet would run as a formula defused."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def _csv(filename: str, tables: Iterable[tuple[str, list[dict[str, Any]]]]) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    first = True
    for title, rows in tables:
        if not first:
            writer.writerow([])
        first = False
        writer.writerow([f"# {title}"])
        if rows:
            writer.writerow([csv_cell(name) for name in rows[0]])
            for row in rows:
                writer.writerow([csv_cell(v) for v in row.values()])
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _page(
    request: HttpRequest,
    template: str,
    name: str,
    build: Callable[[Scope], dict[str, Any]],
    tables: Callable[[dict[str, Any]], list[tuple[str, list[dict[str, Any]]]]],
) -> HttpResponse:
    scope = access_dashboard(request)
    data = build(scope)
    if request.GET.get("format") == "csv":
        filename = f"{name}-{scope.organization.slug}-{scope.start}-{scope.end}.csv"
        return _csv(filename, tables(data))
    return render(
        request,
        template,
        {"scope": scope, "view": name, "csv_url": f"?{scope.query(format='csv')}", **data},
    )


CARDS = [
    ("conversations", "Conversations", "count"),
    ("messages", "Messages", "count"),
    ("containment_rate", "Containment", "rate"),
    ("handoff_rate", "Handoff rate", "rate"),
    ("helpful_ratio", "Helpful", "rate"),
    ("csat_average", "CSAT (1-5)", "score"),
    ("ttft_p50_ms", "First token p50", "ms"),
    ("ttft_p95_ms", "First token p95", "ms"),
    ("total_p50_ms", "Full reply p50", "ms"),
    ("total_p95_ms", "Full reply p95", "ms"),
    ("tokens", "Tokens generated", "count"),
]


def display(value: float | None, kind: str) -> str:
    """How a figure is shown (the browser test formats its own numbers the same way)."""
    if value is None:
        return "—"
    if kind == "rate":
        return f"{value * 100:.1f}%"
    if kind == "ms":
        return f"{value:.0f} ms"
    if kind == "score":
        return f"{value:.2f}"
    return str(int(value))


def cards(summary: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"key": key, "label": label, "display": display(summary[key], kind)}
        for key, label, kind in CARDS
    ]


@login_required(login_url=LOGIN_URL)
def overview(request: HttpRequest) -> HttpResponse:
    def build(s: Scope) -> dict[str, Any]:
        org = s.organization.pk
        summary, per_bot = selectors.summary_and_per_bot(org, s.start, s.end, s.bot_id)
        for row in per_bot:
            row["cells"] = cards(row)
        return {
            "summary": summary,
            "cards": cards(summary),
            "per_bot": per_bot,
            "per_agent": selectors.per_agent(org, s.start, s.end),
            "daily": selectors.daily(org, s.start, s.end, s.bot_id),
            "hours": selectors.busiest_hours(org, s.start, s.end, s.bot_id),
        }

    return _page(
        request,
        "dashboard/overview.html",
        "overview",
        build,
        lambda d: [
            ("summary", [d["summary"]]),
            ("per bot", [{k: v for k, v in r.items() if k != "cells"} for r in d["per_bot"]]),
            ("per agent", d["per_agent"]),
            ("per day", d["daily"]),
            ("busiest hours (UTC)", d["hours"]),
        ],
    )


@login_required(login_url=LOGIN_URL)
def topics(request: HttpRequest) -> HttpResponse:
    def build(s: Scope) -> dict[str, Any]:
        org = s.organization.pk
        return {
            "topics": selectors.topic_breakdown(org, s.start, s.end, s.bot_id),
            "trend": selectors.topic_trend(org, s.start, s.end, s.bot_id),
            "daily": selectors.daily(org, s.start, s.end, s.bot_id),
        }

    def tables(d: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
        trend = [
            {"day": day, **{s["topic"]: s["counts"][i] for s in d["trend"]["series"]}}
            for i, day in enumerate(d["trend"]["days"])
        ]
        sentiment = [{"day": r["day"], "sentiment": r["sentiment"]} for r in d["daily"]]
        return [("topics", d["topics"]), ("topic trend", trend), ("sentiment trend", sentiment)]

    return _page(request, "dashboard/topics.html", "topics", build, tables)


@login_required(login_url=LOGIN_URL)
def feedback(request: HttpRequest) -> HttpResponse:
    def build(s: Scope) -> dict[str, Any]:
        org = s.organization.pk
        ratio = selectors.helpful_ratio(org, s.start, s.end, s.bot_id)
        return {
            "helpful": display(ratio, "rate"),
            "answers": selectors.not_helpful_answers(org, s.start, s.end, s.bot_id),
        }

    return _page(
        request,
        "dashboard/feedback.html",
        "feedback",
        build,
        lambda d: [("answers marked not helpful", d["answers"])],
    )


@login_required(login_url=LOGIN_URL)
def gaps(request: HttpRequest) -> HttpResponse:
    def build(s: Scope) -> dict[str, Any]:
        groups = selectors.knowledge_gaps(s.organization.pk, s.start, s.end, s.bot_id)
        for group in groups:
            title = "" if group["topic"] == "(unclassified)" else group["topic"]
            group["write_url"] = "/admin/knowledge/document/add/?" + urlencode(
                {"title": title.replace("_", " ").capitalize()}
            )
        return {"gaps": groups}

    return _page(
        request,
        "dashboard/gaps.html",
        "gaps",
        build,
        lambda d: [
            (
                "knowledge gaps",
                [
                    {
                        "topic": g["topic"],
                        "questions": g["questions"],
                        "no_knowledge": g["no_knowledge"],
                        "not_helpful": g["not_helpful"],
                        "examples": " | ".join(g["examples"]),
                    }
                    for g in d["gaps"]
                ],
            )
        ],
    )
