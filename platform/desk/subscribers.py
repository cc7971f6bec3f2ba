"""desk's part in the outbox (core.outbox): the handoff rules that follow a bot's reply."""

from __future__ import annotations

from core import outbox
from memory.conversations import events
from memory.conversations.models import Message

from .services import hand_off_after_reply


def reply_finished(event: outbox.Event) -> None:
    """A reply the generation finished (not one failed by a timeout, an engine error or the
    sweeper, nor one an agent cut): 'no relevant knowledge' hands off when the policy says."""
    if event.data["role"] != Message.Role.BOT:
        return
    question_id = (
        Message.objects.filter(pk=event.data["message_id"], error="")
        .values_list("reply_to_id", flat=True)
        .first()
    )
    if question_id is not None:
        hand_off_after_reply(question_id)


def connect() -> None:
    outbox.subscribe(events.MESSAGE_CREATED, reply_finished)
