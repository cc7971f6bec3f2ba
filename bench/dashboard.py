"""Dashboard latency at 1,000,000 messages: p50 / p95 of every dashboard view and its CSV.

Generates one organization's history (3 bots, 125,000 conversations of 8 messages over 90
days, feedback, CSAT, agent work) with set-based SQL in its own database
(`switchboard_bench_dashboard`, kept between runs; `--regenerate` rebuilds it), rebuilds the
rollups once (timed), then requests each view through Django's full stack (middleware,
session auth, the view, template rendering) as a logged-in owner.

    python -m bench.dashboard [--messages 1000000] [--runs 40] [--regenerate]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.harness import own_services

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "platform") not in sys.path:
    sys.path[:0] = [str(ROOT / "platform"), str(ROOT)]

DB = "switchboard_bench_dashboard"
DAYS = 90
MESSAGES_PER_CONVERSATION = 8
TOPICS = [
    "card_arrival", "card_linking", "exchange_rate", "lost_or_stolen_card", "pending_transfer",
    "top_up_failed", "change_pin", "refund_not_showing_up", "declined_card_payment", "",
]  # fmt: skip


def prepare_database() -> None:
    """Embedded Postgres under .switchboard/bench; our own database, created once, migrated."""
    own_services("bench", DB, fresh=False)


def generate(messages: int) -> tuple[int, float]:
    """One organization's history with `messages` messages; returns (org id, seconds)."""
    from django.contrib.auth.models import User
    from django.db import connection

    from accounts.models import Membership, Organization
    from bots.models import Bot

    started = time.perf_counter()
    conversations = messages // MESSAGES_PER_CONVERSATION
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE accounts_organization, auth_user, memory_contact, memory_conversation, "
            "memory_message, memory_feedback RESTART IDENTITY CASCADE"
        )
    org = Organization.objects.create(name="Bench Bank", slug="bench-bank")
    bots = [Bot.objects.create(organization=org, name=f"Bot {n}") for n in range(3)]
    owner = User.objects.create_user("bench-owner", password="bench-owner-pw")  # noqa: S106 - bench data
    agent = User.objects.create_user("bench-agent", password="bench-agent-pw")  # noqa: S106 - bench data
    Membership.objects.create(user=owner, organization=org, role="owner")
    Membership.objects.create(user=agent, organization=org, role="agent")
    end = datetime.now(tz=UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=DAYS)
    topics_sql = "ARRAY[" + ", ".join(f"'{t}'" for t in TOPICS) + "]"
    bot_ids = "ARRAY[" + ", ".join(str(b.pk) for b in bots) + "]"
    # Only integers and constants of ours are formatted into these statements.
    statements = [
        # Contacts: one per conversation (visitors rarely come back in this sample).
        f"""INSERT INTO memory_contact (organization_id, visitor_id, external_id, name, email,
                created_at, last_seen_at)
            SELECT {org.pk}, md5(g::text), '', '', '', %(start)s, %(start)s
            FROM generate_series(1, {conversations}) g""",  # noqa: S608
        # Conversations: every 6th with an agent (resolved by them), every 3rd contained.
        f"""INSERT INTO memory_conversation (organization_id, bot_id, contact_id, status,
                assignee_id, handoff_reason, resolved_at, last_seq, created_at, updated_at)
            SELECT {org.pk}, ({bot_ids})[1 + g % 3], g,
                CASE WHEN g % 6 = 0 OR g % 3 = 0 THEN 'resolved' ELSE 'bot' END,
                CASE WHEN g % 6 = 0 THEN {agent.pk} END,
                CASE WHEN g % 6 = 0 THEN 'customer_request' ELSE '' END,
                CASE WHEN g % 6 = 0 OR g % 3 = 0 THEN t + interval '20 minutes' END,
                {MESSAGES_PER_CONVERSATION}, t, t
            FROM (SELECT g, %(start)s + (random() * interval '{DAYS} days') AS t
                  FROM generate_series(1, {conversations}) g) c""",  # noqa: S608
        # Messages: alternating user / bot; the last one of an agent's conversation is theirs.
        f"""INSERT INTO memory_message (conversation_id, seq, role, text, status, client_id,
                reply_to_id, model_name, prompt_tokens, completion_tokens, queue_wait_ms,
                ttft_ms, engine_ttft_ms, total_ms, attempts, lease_until, lease_token, error,
                sources, author_id, topic, topic_confidence, sentiment, created_at, updated_at)
            SELECT c.id, s,
                CASE WHEN s % 2 = 1 THEN 'user'
                     WHEN c.assignee_id IS NOT NULL AND s = {MESSAGES_PER_CONVERSATION}
                     THEN 'agent' ELSE 'bot' END,
                CASE WHEN s % 2 = 1 THEN 'How long does a card take to arrive?'
                     ELSE 'It usually takes 3 to 5 working days.' END,
                CASE WHEN s % 2 = 1 THEN 'received' ELSE 'final' END,
                CASE WHEN s % 2 = 1 THEN md5(c.id::text || '-' || s) END,
                NULL, '', NULL,
                CASE WHEN s % 2 = 0 THEN 10 + (random() * 200)::int END,
                NULL,
                CASE WHEN s % 2 = 0 THEN 50 + (random() * random() * 3000)::int END,
                NULL,
                CASE WHEN s % 2 = 0 THEN 500 + (random() * random() * 12000)::int END,
                1, NULL, '', '',
                CASE WHEN s % 2 = 0 AND random() < 0.6
                     THEN '[{{"title": "Card delivery", "url": "/kb/card-delivery"}}]'::jsonb
                     ELSE '[]'::jsonb END,
                CASE WHEN c.assignee_id IS NOT NULL AND s = {MESSAGES_PER_CONVERSATION}
                     THEN c.assignee_id END,
                CASE WHEN s % 2 = 1
                     THEN ({topics_sql})[1 + (random() * {len(TOPICS) - 1})::int] ELSE '' END,
                NULL,
                CASE WHEN s % 2 = 1 THEN round((random() * 2 - 1)::numeric, 3) END,
                c.created_at + s * interval '40 seconds',
                c.created_at + s * interval '40 seconds'
            FROM memory_conversation c, generate_series(1, {MESSAGES_PER_CONVERSATION}) s""",  # noqa: S608
        # Bot replies point at the question before them.
        """UPDATE memory_message m SET reply_to_id = q.id
            FROM memory_message q
            WHERE m.role = 'bot' AND q.conversation_id = m.conversation_id AND q.seq = m.seq - 1""",
        # Feedback on about 15 % of bot replies.
        """INSERT INTO memory_feedback (message_id, contact_id, rating, comment, created_at,
                updated_at)
            SELECT m.id, c.contact_id,
                CASE WHEN random() < 0.7 THEN 'helpful' ELSE 'not_helpful' END, '',
                m.created_at + interval '1 minute', m.created_at + interval '1 minute'
            FROM memory_message m JOIN memory_conversation c ON c.id = m.conversation_id
            WHERE m.role = 'bot' AND random() < 0.15""",
        # CSAT on the agent's conversations.
        """INSERT INTO desk_csat (conversation_id, score, comment, agent_id, created_at)
            SELECT id, 1 + (random() * 4)::int, '', assignee_id, resolved_at
            FROM memory_conversation WHERE assignee_id IS NOT NULL""",
        "ANALYZE",
    ]
    with connection.cursor() as cursor:
        for statement in statements:
            # `%` is SQL's modulo here: doubled for the driver, except in the one parameter.
            sql = statement.replace("%", "%%").replace("%%(start)s", "%(start)s")
            cursor.execute(sql, {"start": start})
    return org.pk, time.perf_counter() - started


def rebuild_all(org_id: int) -> float:
    from analytics.models import DirtyHour
    from analytics.rollups import rebuild

    end = datetime.now(tz=UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    started = time.perf_counter()
    rebuild(org_id, end - timedelta(days=DAYS + 1), end)
    DirtyHour.objects.all().delete()
    return time.perf_counter() - started


def time_refresh_of_one_hour(org_id: int) -> float:
    from analytics.rollups import floor_hour, mark_dirty, refresh_dirty

    hour = floor_hour(datetime.now(tz=UTC)) - timedelta(days=3)
    mark_dirty(org_id, [hour])
    started = time.perf_counter()
    refresh_dirty()
    return time.perf_counter() - started


def measure(runs: int) -> list[dict[str, Any]]:
    from django.contrib.auth.models import User
    from django.test import Client

    from accounts.models import Organization
    from api.keys import create_api_key

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(User.objects.get(username="bench-owner"))
    org = Organization.objects.get(slug="bench-bank")
    _, key = create_api_key(org.pk, "bench", "read")
    today = datetime.now(tz=UTC).date()
    ranges = {"30 days": today - timedelta(days=29), "90 days": today - timedelta(days=89)}
    views = [
        ("overview", "/dashboard/"),
        ("topics", "/dashboard/topics/"),
        ("feedback", "/dashboard/feedback/"),
        ("knowledge gaps", "/dashboard/gaps/"),
    ]
    results = []
    for range_name, start in ranges.items():
        query = f"start={start}&end={today}"
        cases = []
        for name, path in views:
            cases.append((name, f"{path}?{query}", {}))
            cases.append((f"{name} (CSV)", f"{path}?{query}&format=csv", {}))
        cases.append(
            ("API analytics summary", f"/api/analytics/summary?{query}",
             {"HTTP_AUTHORIZATION": f"Bearer {key}"})
        )  # fmt: skip
        for name, url, headers in cases:
            for _ in range(3):
                assert client.get(url, **headers).status_code == 200, url
            samples = []
            for _ in range(runs):
                started = time.perf_counter()
                response = client.get(url, **headers)
                samples.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200
            samples.sort()
            results.append(
                {
                    "view": name,
                    "range": range_name,
                    "p50": statistics.median(samples),
                    "p95": samples[math.ceil(0.95 * len(samples)) - 1],
                }
            )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args(argv)
    prepare_database()
    from django.db import connection

    from accounts.models import Organization
    from memory.conversations.models import Message

    count = Message.objects.count()
    generated_s = rebuilt_s = None
    if args.regenerate or count != args.messages or not Organization.objects.exists():
        print(f"generating {args.messages:,} messages…", flush=True)
        org_id, generated_s = generate(args.messages)
        print(f"  {generated_s:.0f} s; rebuilding the rollups…", flush=True)
        rebuilt_s = rebuild_all(org_id)
        count = Message.objects.count()
    org_id = Organization.objects.get(slug="bench-bank").pk
    refresh_s = time_refresh_of_one_hour(org_id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM analytics_hourlyrollup")
        rollup_rows = cursor.fetchone()[0]
    results = measure(args.runs)

    print()
    print(f"Dashboard at {count:,} messages ({rollup_rows:,} hourly rollup rows), "
          f"{args.runs} requests per view, Django full stack in-process")  # fmt: skip
    if generated_s is not None:
        print(f"  data generation {generated_s:.0f} s, full rollup rebuild {rebuilt_s:.1f} s")
    print(f"  incremental refresh of one dirty hour: {refresh_s * 1000:.0f} ms")
    print()
    print(f"| {'view':<28} | {'range':<8} | {'p50 ms':>7} | {'p95 ms':>7} | ≤ 300 ms |")
    print(f"|{'-' * 30}|{'-' * 10}|{'-' * 9}|{'-' * 9}|{'-' * 10}|")
    for row in results:
        ok = "yes" if row["p95"] <= 300 else "NO"
        print(
            f"| {row['view']:<28} | {row['range']:<8} | {row['p50']:>7.1f} | {row['p95']:>7.1f} "
            f"| {ok:<8} |"
        )


if __name__ == "__main__":
    main()
