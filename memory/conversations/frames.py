"""What the widget sees of stored rows: the payloads of server frames (docs/protocol.md)."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from django.contrib.auth.models import User

from .attachments import AttachmentPayload, attachment_payload, prefetched_attachments
from .models import Message


def display_name(user: User | None) -> str:
    """How a person (an agent, a message's author) is named to customers and agents."""
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


class MessagePayload(TypedDict):
    id: int
    seq: int
    role: str
    text: str
    status: str
    client_id: str | None
    reply_to: int | None
    created_at: str
    timings: dict[str, Any] | None
    feedback: str | None
    sources: list[dict[str, Any]]
    author_name: NotRequired[str]
    attachments: NotRequired[list[AttachmentPayload]]


def message_payload(message: Message, feedback: str | None = None) -> MessagePayload:
    timings = None
    if message.role == Message.Role.BOT and message.status in (
        Message.Status.FINAL,
        Message.Status.FAILED,
    ):
        timings = {
            "model": message.model_name,
            "prompt_tokens": message.prompt_tokens,
            "completion_tokens": message.completion_tokens,
            "queue_wait_ms": message.queue_wait_ms,
            "ttft_ms": message.ttft_ms,
            "total_ms": message.total_ms,
        }
    payload: MessagePayload = {
        "id": message.pk,
        "seq": message.seq,
        "role": message.role,
        "text": message.text,
        "status": message.status,
        "client_id": message.client_id,
        "reply_to": message.reply_to_id,
        "created_at": message.created_at.isoformat(),
        "timings": timings,
        "feedback": feedback,
        "sources": message.sources or [],
    }
    if message.role == Message.Role.AGENT:
        payload["author_name"] = display_name(message.author)
    attachments = prefetched_attachments(message)
    if attachments is not None:
        payload["attachments"] = [attachment_payload(a) for a in attachments]
    return payload
