"""The orphan sweeper (bots.sweeper) against real Postgres: which stored customer messages
count as having lost their reply."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from bots.sweeper import READING_GRACE, orphaned_user_messages
from memory.conversations.models import Attachment, Message
from memory.conversations.services import open_conversation, record_user_message
from tests.conftest import make_bot, new_visitor_id

pytestmark = pytest.mark.django_db


def customer_message_with_a_file(age: timedelta, status: str) -> Message:
    conversation = open_conversation(make_bot(), new_visitor_id())
    message, _created = record_user_message(conversation, "c1", "What does this mean?")
    Attachment.objects.create(
        conversation=conversation,
        message=message,
        role=Message.Role.USER,
        kind=Attachment.Kind.IMAGE,
        content_type="image/png",
        size=100,
        name="screenshot.png",
        key=f"attachments/{message.pk}.png",
        status=status,
    )
    Message.objects.filter(pk=message.pk).update(created_at=timezone.now() - age)
    return message


@override_settings(REPLY_SWEEP_AFTER_S=30)
def test_a_reply_waiting_for_its_files_to_be_read_is_not_taken_for_lost() -> None:
    """The reply is chained behind the OCR: a slow background queue must not make the
    sweeper answer it without the screenshot's text."""
    waiting = customer_message_with_a_file(timedelta(seconds=60), Attachment.Status.PENDING)
    reading = customer_message_with_a_file(timedelta(seconds=60), Attachment.Status.RUNNING)
    read = customer_message_with_a_file(timedelta(seconds=60), Attachment.Status.DONE)
    stuck = customer_message_with_a_file(
        READING_GRACE + timedelta(seconds=30), Attachment.Status.PENDING
    )

    orphans = orphaned_user_messages()

    assert waiting.pk not in orphans and reading.pk not in orphans
    # Read, and still no reply after 30 s: lost. Reading for longer than the grace: answered
    # without what the file says rather than never.
    assert read.pk in orphans and stuck.pk in orphans
