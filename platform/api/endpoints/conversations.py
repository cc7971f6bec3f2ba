"""Conversations and messages (list, filter, read, send as an agent) and feedback."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema, Status
from ninja.errors import HttpError
from pydantic import Field, field_validator

from memory.conversations.models import Conversation, Feedback, Message

from ..auth import caller_of
from ..schemas import ERRORS, AgentMessageIn, ConversationOut, FeedbackOut, MessageOut, Page
from ..services import send_agent_message
from .paging import PageParams, page

router = Router(tags=["conversations"])


class ConversationFilters(Schema):
    status: Literal["bot", "waiting", "agent", "resolved"] | None = None
    bot_id: int | None = None
    contact_id: int | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None

    @field_validator("created_after", "created_before")
    @classmethod
    def _as_utc(cls, value: datetime | None) -> datetime | None:
        # Postgres refuses odd offsets (e.g. -17:01); compare in UTC instead.
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        try:
            return value.astimezone(UTC)
        except (OverflowError, ValueError) as exc:
            raise ValueError("date out of range") from exc


@router.get("/conversations", response={200: Page[ConversationOut], **ERRORS})
def list_conversations(
    request: HttpRequest, filters: Query[ConversationFilters], params: Query[PageParams]
) -> dict[str, object]:
    rows = Conversation.objects.filter(organization_id=caller_of(request).organization_id)
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.bot_id is not None:
        rows = rows.filter(bot_id=filters.bot_id)
    if filters.contact_id is not None:
        rows = rows.filter(contact_id=filters.contact_id)
    if filters.created_after is not None:
        rows = rows.filter(created_at__gte=filters.created_after)
    if filters.created_before is not None:
        rows = rows.filter(created_at__lt=filters.created_before)
    return page(rows.order_by("-created_at", "-id"), params)


def _conversation(request: HttpRequest, conversation_id: int) -> Conversation:
    return get_object_or_404(
        Conversation, pk=conversation_id, organization_id=caller_of(request).organization_id
    )


@router.get("/conversations/{conversation_id}", response={200: ConversationOut, **ERRORS})
def get_conversation(request: HttpRequest, conversation_id: int) -> Conversation:
    return _conversation(request, conversation_id)


class MessageFilters(Schema):
    after_seq: int = Field(default=0, ge=0)
    role: Literal["user", "bot", "agent", "system"] | None = None


@router.get("/conversations/{conversation_id}/messages", response={200: Page[MessageOut], **ERRORS})
def list_messages(
    request: HttpRequest,
    conversation_id: int,
    filters: Query[MessageFilters],
    params: Query[PageParams],
) -> dict[str, object]:
    conversation = _conversation(request, conversation_id)
    rows = Message.objects.filter(
        conversation=conversation, seq__gt=filters.after_seq
    ).prefetch_related("attachments")
    if filters.role:
        rows = rows.filter(role=filters.role)
    return page(rows.order_by("seq"), params)


@router.post("/conversations/{conversation_id}/messages", response={201: MessageOut, **ERRORS})
def send_message(
    request: HttpRequest, conversation_id: int, body: AgentMessageIn
) -> Status[Message]:
    caller = caller_of(request)
    if not caller.is_session and not caller.can_write:
        raise HttpError(403, "This key is read-only.")
    conversation = _conversation(request, conversation_id)
    return Status(201, send_agent_message(conversation, body.text, caller))


class FeedbackFilters(Schema):
    rating: Literal["helpful", "not_helpful"] | None = None
    bot_id: int | None = None


@router.get("/feedback", response={200: Page[FeedbackOut], **ERRORS}, tags=["feedback"])
def list_feedback(
    request: HttpRequest, filters: Query[FeedbackFilters], params: Query[PageParams]
) -> dict[str, object]:
    rows = Feedback.objects.filter(
        message__conversation__organization_id=caller_of(request).organization_id
    )
    if filters.rating:
        rows = rows.filter(rating=filters.rating)
    if filters.bot_id is not None:
        rows = rows.filter(message__conversation__bot_id=filters.bot_id)
    return page(rows.order_by("-created_at", "-id"), params)
