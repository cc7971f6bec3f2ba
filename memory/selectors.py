"""Reads of the conversation log."""

from __future__ import annotations

from django.db.models import QuerySet

from .models import Conversation, Feedback, Message


def messages_after(conversation: Conversation, seq: int) -> QuerySet[Message]:
    return (
        Message.objects.filter(conversation=conversation, seq__gt=seq)
        .select_related("author")
        .order_by("seq")
    )


def feedback_by_message(conversation: Conversation, message_ids: list[int]) -> dict[int, str]:
    rows = Feedback.objects.filter(
        message_id__in=message_ids, contact_id=conversation.contact_id
    ).values_list("message_id", "rating")
    return dict(rows)
