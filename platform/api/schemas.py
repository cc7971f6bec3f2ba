"""Request and response bodies of the REST API (pydantic, so the OpenAPI schema follows)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar
from uuid import UUID

from ninja import Schema
from ninja.responses import codes_4xx
from pydantic import Field

from memory.conversations.attachments import attachment_metadata
from memory.conversations.models import Message

T = TypeVar("T")

# Postgres text cannot hold NUL; refusing it here gives a 422 instead of a database error.
NO_NUL = r"^[^\x00]*$"


class ErrorBody(Schema):
    code: str = Field(description="Stable machine-readable code, e.g. not_found, invalid.")
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class ErrorOut(Schema):
    """Every error, whatever the status, has this one shape."""

    error: ErrorBody


# Documented on every operation, so clients (and schemathesis) know the error shape.
ERRORS: dict[frozenset[int], type[ErrorOut]] = {codes_4xx | {413, 415, 422}: ErrorOut}


class Page(Schema, Generic[T]):
    items: list[T]
    count: int
    limit: int
    offset: int


class OrganizationOut(Schema):
    id: int
    name: str
    slug: str
    created_at: datetime
    attachment_retention_days: int | None = Field(
        description="Attachments are deleted this many days after upload (null: the server's "
        "default, SWITCHBOARD_ATTACHMENT_RETENTION_DAYS; 0: kept)."
    )


EngineName = Literal["llamacpp", "transformers", "openai"]


class BotOut(Schema):
    id: int
    name: str
    persona: str
    greeting: str
    engine: EngineName
    model: str
    max_tokens: int
    temperature: float
    created_at: datetime


class BotIn(Schema):
    name: str = Field(pattern=NO_NUL, min_length=1, max_length=120)
    persona: str | None = Field(pattern=NO_NUL, default=None, max_length=20000)
    greeting: str | None = Field(pattern=NO_NUL, default=None, max_length=500)
    engine: EngineName = "llamacpp"
    model: str = Field(pattern=NO_NUL, default="", max_length=500)
    max_tokens: int = Field(default=256, ge=1, le=4096)
    temperature: float = Field(default=0.3, ge=0.0, le=2.0)


class BotPatch(Schema):
    name: str | None = Field(pattern=NO_NUL, default=None, min_length=1, max_length=120)
    persona: str | None = Field(pattern=NO_NUL, default=None, max_length=20000)
    greeting: str | None = Field(pattern=NO_NUL, default=None, max_length=500)
    engine: EngineName | None = None
    model: str | None = Field(pattern=NO_NUL, default=None, max_length=500)
    max_tokens: int | None = Field(default=None, ge=1, le=4096)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)


class WidgetKeyOut(Schema):
    id: int
    bot_id: int
    key: str
    allowed_origins: list[str]
    revoked: bool
    created_at: datetime


class WidgetKeyIn(Schema):
    allowed_origins: list[Annotated[str, Field(max_length=200, pattern=NO_NUL)]] = Field(
        default_factory=list, max_length=50
    )


ConversationStatus = Literal["bot", "waiting", "agent", "resolved"]


class ConversationOut(Schema):
    id: int
    bot_id: int
    contact_id: int
    status: ConversationStatus
    assignee_id: int | None
    handoff_reason: str
    resolved_at: datetime | None
    last_seq: int
    created_at: datetime
    updated_at: datetime


class AttachmentOut(Schema):
    """A file on a message: metadata and a signed link, never the bytes (docs/api.md)."""

    id: int
    kind: Literal["image", "pdf", "text", "audio"]
    content_type: str
    name: str
    size: int
    width: int | None
    height: int | None
    status: Literal["pending", "running", "done", "failed"]
    text: str = Field(description="What was read from it: OCR, the PDF's text, a transcript.")
    created_at: datetime
    url: str = Field(description="A path on this server that serves the file; signed, expiring.")
    url_expires_in: int = Field(description="Seconds the link stays valid from now.")


class MessageOut(Schema):
    id: int
    conversation_id: int
    seq: int
    role: Literal["user", "bot", "agent", "system"]
    text: str
    status: Literal["received", "streaming", "final", "failed"]
    author_id: int | None
    topic: str
    sentiment: float | None
    ttft_ms: int | None
    total_ms: int | None
    completion_tokens: int | None
    sources: list[dict[str, Any]]
    attachments: list[AttachmentOut]
    created_at: datetime

    @staticmethod
    def resolve_attachments(message: Message) -> list[dict[str, object]]:
        return [attachment_metadata(a) for a in message.attachments.all()]


class AgentMessageIn(Schema):
    text: str = Field(pattern=NO_NUL, min_length=1, max_length=4000)


class FeedbackOut(Schema):
    id: int
    message_id: int
    contact_id: int
    rating: Literal["helpful", "not_helpful"]
    comment: str
    created_at: datetime


class ApiKeyOut(Schema):
    id: int
    name: str
    prefix: str
    scope: Literal["read", "write"]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="The plain key; shown only in this response.")


class ApiKeyIn(Schema):
    name: str = Field(pattern=NO_NUL, min_length=1, max_length=120)
    scope: Literal["read", "write"] = "read"


EventName = Literal[
    "conversation.created",
    "message.created",
    "handoff.requested",
    "conversation.resolved",
    "feedback.created",
    "csat.created",
]


class WebhookOut(Schema):
    id: int
    url: str
    events: list[str]
    active: bool
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Signing secret; shown only in this response.")


class WebhookIn(Schema):
    url: str = Field(pattern=NO_NUL, min_length=1, max_length=500)
    events: list[EventName] = Field(min_length=1, max_length=6)
    active: bool = True


class WebhookPatch(Schema):
    url: str | None = Field(pattern=NO_NUL, default=None, min_length=1, max_length=500)
    events: list[EventName] | None = Field(default=None, min_length=1, max_length=6)
    active: bool | None = None


class DeliveryOut(Schema):
    id: UUID
    event: str
    status: Literal["pending", "sending", "succeeded", "failed"]
    attempts: int
    last_status_code: int | None
    last_error: str
    created_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime | None


DocumentKind = Literal["markdown", "html", "pdf", "text", "faq", "url"]


class DocumentOut(Schema):
    id: int
    bot_id: int
    key: str
    title: str
    kind: DocumentKind
    source_url: str
    status: Literal["pending", "running", "ready", "failed"]
    questions: list[str]
    chunks_total: int
    chunks_done: int
    error: str
    ingested_at: datetime | None
    created_at: datetime
    updated_at: datetime


class DocumentIn(Schema):
    bot_id: int
    kind: Literal["markdown", "html", "text", "faq", "url"]
    title: str = Field(pattern=NO_NUL, min_length=1, max_length=300)
    body: str = Field(pattern=NO_NUL, default="", max_length=2_000_000)
    source_url: str = Field(pattern=NO_NUL, default="", max_length=2000)
    key: str = Field(
        pattern=NO_NUL,
        default="",
        max_length=200,
        description="Optional stable name: adding the same key to the same bot replaces it.",
    )
    questions: list[Annotated[str, Field(pattern=NO_NUL, min_length=1, max_length=500)]] = Field(
        default_factory=list,
        max_length=200,
        description="Questions this document answers, in customers' own words: each is "
        "matched against a customer's question as well as the text.",
    )


class ContactOut(Schema):
    # No visitor_id: it is the anonymous visitor's only credential (with the public widget
    # key it opens their conversation), so no API key, read-only or not, may obtain it.
    id: int
    external_id: str
    name: str
    email: str
    created_at: datetime
    last_seen_at: datetime


class EraseIn(Schema):
    messages: bool = Field(
        default=False,
        description="Also delete the contact, its conversations and messages (not only memory).",
    )
