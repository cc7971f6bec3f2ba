"""A small, varied organization history for dashboard tests: two bots, an agent, feedback, CSAT.

Timestamps are spread over the last few days (rows are created, then back-dated).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.utils import timezone

from accounts.models import Membership, Organization
from analytics.rollups import mark_dirty
from bots.models import Bot
from desk.models import Csat
from memory.conversations.models import Contact, Conversation, Feedback, Message
from tests.conftest import make_bot, make_org, new_visitor_id

TOPICS = ["card_arrival", "lost_or_stolen_card", "exchange_rate", ""]
QUESTIONS = {
    "card_arrival": "When will my card arrive?",
    "lost_or_stolen_card": "I lost my card, what do I do?",
    "exchange_rate": "What exchange rate do you use?",
    "": "Hello?",
}


@dataclass
class History:
    org: Organization
    bots: list[Bot]
    owner: User
    agent: User
    first_day: datetime
    days: int


def seed_history(days: int = 5, conversations: int = 36, seed: int = 7) -> History:
    rng = random.Random(seed)
    org = make_org()
    bots = [make_bot(org, name="Support bot"), make_bot(org, name="Sales bot")]
    suffix = org.slug
    owner = User.objects.create_user(f"owner-{suffix}", password="pw-owner-1")
    agent = User.objects.create_user(f"agent-{suffix}", password="pw-agent-1")
    Membership.objects.create(user=owner, organization=org, role="owner")
    Membership.objects.create(user=agent, organization=org, role="agent")
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    first_day = today - timedelta(days=days - 1)
    for n in range(conversations):
        bot = bots[n % 2]
        opened = first_day + timedelta(
            days=rng.randrange(days), hours=rng.randrange(24), minutes=rng.randrange(50)
        )
        if opened > timezone.now() - timedelta(minutes=30):
            opened = timezone.now() - timedelta(minutes=30 + n)
        contact = Contact.objects.create(organization=org, visitor_id=new_visitor_id())
        conversation = Conversation.objects.create(organization=org, bot=bot, contact=contact)
        seq = 0
        with_agent = n % 5 == 0
        for turn in range(rng.randint(1, 3)):
            topic = rng.choice(TOPICS)
            at = opened + timedelta(minutes=2 * turn)
            seq += 1
            question = Message.objects.create(
                conversation=conversation,
                seq=seq,
                role="user",
                text=QUESTIONS[topic],
                status="received",
                topic=topic,
                sentiment=round(rng.uniform(-1, 1), 3),
            )
            seq += 1
            ttft = rng.randint(80, 2500)
            answer = Message.objects.create(
                conversation=conversation,
                seq=seq,
                role="bot",
                text=f"Answer {n}.{turn}",
                status="final",
                reply_to=question,
                ttft_ms=ttft,
                total_ms=ttft + rng.randint(200, 9000),
                completion_tokens=rng.randint(5, 120),
                sources=[] if rng.random() < 0.4 else [{"title": "Card delivery", "url": "/kb/1"}],
            )
            Message.objects.filter(pk__in=[question.pk, answer.pk]).update(created_at=at)
            if rng.random() < 0.6:
                feedback = Feedback.objects.create(
                    message=answer,
                    contact=contact,
                    rating=rng.choice(["helpful", "helpful", "not_helpful"]),
                    comment="",
                )
                Feedback.objects.filter(pk=feedback.pk).update(created_at=at + timedelta(minutes=1))
        fields: dict[str, object] = {"created_at": opened, "last_seq": seq}
        if with_agent:
            seq += 1
            reply = Message.objects.create(
                conversation=conversation,
                seq=seq,
                role="agent",
                text="A person here.",
                status="received",
                author=agent,
            )
            Message.objects.filter(pk=reply.pk).update(created_at=opened + timedelta(minutes=9))
            fields.update(
                last_seq=seq,
                assignee=agent,
                handoff_reason="customer_request",
                status="resolved",
                resolved_at=opened + timedelta(minutes=20),
            )
            csat = Csat.objects.create(
                conversation=conversation, score=rng.randint(1, 5), agent=agent
            )
            Csat.objects.filter(pk=csat.pk).update(created_at=opened + timedelta(minutes=21))
        elif n % 3 == 0:
            fields.update(status="resolved", resolved_at=opened + timedelta(minutes=10))
        Conversation.objects.filter(pk=conversation.pk).update(**fields)
    # The rows' events (the outbox) marked the hours they were created in; back-dated, they
    # belong to other hours, which a live platform would have marked as they happened.
    conversations = Conversation.objects.filter(organization=org)
    moments = [
        *conversations.values_list("created_at", flat=True),
        *conversations.values_list("resolved_at", flat=True),
        *Message.objects.filter(conversation__organization=org).values_list(
            "created_at", flat=True
        ),
        *Feedback.objects.filter(message__conversation__organization=org).values_list(
            "created_at", flat=True
        ),
        *Csat.objects.filter(conversation__organization=org).values_list("created_at", flat=True),
    ]
    mark_dirty(org.pk, moments)
    return History(org, bots, owner, agent, first_day, days)
