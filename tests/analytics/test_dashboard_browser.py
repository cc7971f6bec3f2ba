"""The dashboard in a real browser over seeded data: charts draw, figures match the database.

Rollups are rebuilt by the live platform's background worker (the `refresh_rollups` task);
the expected figures are computed here straight from the raw tables.
"""

from __future__ import annotations

import csv
import io
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Browser, Page

from analytics.models import DirtyHour
from analytics.rollups import mark_dirty
from analytics.selectors import bounds
from analytics.tasks import refresh_rollups
from analytics.views import CARDS, display
from memory.conversations.models import Feedback, Message
from tests.conftest import LivePlatform

from .expected import expected_summary
from .seed import History, seed_history

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow]


def refreshed_by_the_worker(history: History) -> None:
    """Mark every seeded hour stale and let the background worker's task rebuild them."""
    now = timezone.now()
    hour = history.first_day
    hours = []
    while hour <= now:
        hours.append(hour)
        hour += timedelta(hours=1)
    mark_dirty(history.org.pk, hours)
    refresh_rollups.delay()
    deadline = time.monotonic() + 120
    while DirtyHour.objects.filter(organization=history.org).exists():
        assert time.monotonic() < deadline, "the worker did not refresh the rollups"
        time.sleep(0.5)


def logged_in_page(browser: Browser, live: LivePlatform, history: History) -> Page:
    client = Client()
    client.force_login(history.owner)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    context = browser.new_context(accept_downloads=True)
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live.url}])
    return context.new_page()


def shown(page: Page, selector: str) -> dict[str, str]:
    return page.eval_on_selector_all(
        selector,
        "els => Object.fromEntries(els.map(e => [e.dataset.metric, e.textContent.trim()]))",
    )


def assert_figures_match(on_screen: dict[str, str], expected: dict[str, float | None]) -> None:
    for key, _label, kind in CARDS:
        value = expected[key]
        if kind == "ms" and value is not None:
            # Latency percentiles come from 5 % log buckets: within 5 % of the exact value.
            got = float(on_screen[key].removesuffix(" ms"))
            assert abs(got - value) <= value * 0.05 + 1, (key, got, value)
        else:
            assert on_screen[key] == display(value, kind), (key, on_screen[key], value)


def test_the_overview_draws_its_charts_and_shows_the_databases_figures_and_exports_csv(
    live_platform: LivePlatform, browser: Browser, tmp_path: Path
) -> None:
    history = seed_history()
    refreshed_by_the_worker(history)
    start = history.first_day.date()
    end = timezone.now().date()
    low, high = bounds(start, end)
    page = logged_in_page(browser, live_platform, history)
    page.goto(f"{live_platform.url}/dashboard/?start={start}&end={end}")

    # The charts: Chart.js (served locally) has an instance on each canvas, with our data.
    page.wait_for_function("document.querySelectorAll('canvas[data-rendered]').length === 3")
    points = page.evaluate(
        """() => [...document.querySelectorAll('canvas[data-chart]')].map(c => {
            const chart = Chart.getChart(c);
            return [c.dataset.chart, chart.data.datasets[0].data.length, c.width > 0];
        })"""
    )
    days = (end - start).days + 1
    assert points == [["daily", days, True], ["sentiment", days, True], ["hours", 24, True]]
    scripts = page.eval_on_selector_all("script[src]", "els => els.map(e => e.src)")
    assert all(src.startswith(live_platform.url) for src in scripts)
    assert any(src.endswith("vendor/chartjs/chart.umd.min.js") for src in scripts)

    # The figures: every card, then each bot's row, equal what we compute from the raw log.
    expected = expected_summary(history.org.pk, low, high)
    assert expected["conversations"] == 36 and expected["csat_average"] is not None
    assert_figures_match(shown(page, ".card .value[data-metric]"), expected)
    for bot in history.bots:
        row = shown(page, f'#per-bot tr[data-bot="{bot.pk}"] td[data-metric]')
        assert_figures_match(row, expected_summary(history.org.pk, low, high, bot.pk))
    agent = shown(page, f'#per-agent tr[data-agent="{history.agent.pk}"] td[data-metric]')
    assert int(agent["resolved"]) == 8 and int(agent["messages"]) == 8

    # CSV: the download parses and its summary equals the screen.
    with page.expect_download() as info:
        page.click("#csv")
    path = tmp_path / "overview.csv"
    info.value.save_as(path)
    rows = list(csv.reader(io.StringIO(path.read_text())))
    assert rows[0] == ["# summary"]
    summary = dict(zip(rows[1], rows[2], strict=True))
    assert int(summary["conversations"]) == expected["conversations"]
    assert int(summary["messages"]) == expected["messages"]
    assert int(summary["tokens"]) == expected["tokens"]
    assert float(summary["helpful_ratio"]) == pytest.approx(expected["helpful_ratio"], abs=1e-4)

    # The other views render their charts and tables from the same data, with a CSV each.
    page.goto(f"{live_platform.url}/dashboard/topics/?start={start}&end={end}")
    page.wait_for_function("document.querySelectorAll('canvas[data-rendered]').length === 3")
    topic_counts = page.eval_on_selector_all(
        "#topics tbody tr",
        "rows => rows.map(r => [r.cells[0].textContent, +r.cells[1].textContent])",
    )
    questions = Message.objects.filter(
        conversation__organization=history.org,
        role="user",
        created_at__gte=low,
        created_at__lt=high,
    )
    for topic, count in topic_counts:
        raw = "" if topic == "(unclassified)" else topic
        assert questions.filter(topic=raw).count() == count, topic
    assert sum(c for _, c in topic_counts) == questions.count()

    page.goto(f"{live_platform.url}/dashboard/gaps/?start={start}&end={end}")
    links = page.eval_on_selector_all("#gaps a.action", "els => els.map(e => e.textContent)")
    assert links and set(links) == {"Write an article"}
    gap_total = sum(
        int(t)
        for t in page.eval_on_selector_all(
            "#gaps td[data-metric=questions]", "els => els.map(e => e.textContent)"
        )
    )
    no_source = questions.filter(reply__status="final", reply__sources=[]).count()
    assert gap_total >= no_source > 0

    page.goto(f"{live_platform.url}/dashboard/feedback/?start={start}&end={end}")
    assert page.text_content('[data-metric="helpful_ratio"]') == display(
        expected["helpful_ratio"], "rate"
    )
    with page.expect_download() as info:
        page.click("#csv")
    path = tmp_path / "feedback.csv"
    info.value.save_as(path)
    rows = list(csv.reader(io.StringIO(path.read_text())))
    not_helpful = Feedback.objects.filter(
        message__conversation__organization=history.org,
        rating="not_helpful",
        created_at__gte=low,
        created_at__lt=high,
    ).count()
    assert rows[1] == ["at", "question", "answer", "comment", "sources"]
    assert len(rows) - 2 == not_helpful > 0
    page.context.close()
