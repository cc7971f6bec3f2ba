"""The handoff summary with the real SmolLM2 (llama.cpp), in this process."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.utils import timezone

from desk.generation import summarize_handoff
from desk.models import Handoff
from memory.models import Message
from memory.services import allocate_seq
from tests.conftest import make_bot
from tests.desk.factories import make_conversation

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_summary_is_written_once_and_skipped_when_the_trip_already_ended() -> None:
    conversation = make_conversation(make_bot())
    with transaction.atomic():
        Message.objects.create(
            conversation=conversation,
            seq=allocate_seq(conversation.pk),
            role="user",
            status="received",
            text="My card was charged twice for the same coffee and I want a refund.",
        )
    handoff = Handoff.objects.create(conversation=conversation, reason="customer_asked")
    done = summarize_handoff(handoff.pk)
    assert done is not None and done.summary_status == "done" and len(done.summary) > 10
    assert summarize_handoff(handoff.pk) is None  # a redelivery does nothing

    Handoff.objects.filter(pk=handoff.pk).update(ended_at=timezone.now())
    second = Handoff.objects.create(conversation=conversation, reason="not_helpful")
    Handoff.objects.filter(pk=second.pk).update(ended_at=timezone.now())
    assert summarize_handoff(second.pk) is None
    second.refresh_from_db()
    assert (second.summary_status, second.summary) == ("failed", "")
