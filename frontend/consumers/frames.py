"""Parsing and validating widget frames (docs/protocol.md); every problem is a typed error."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings

CLIENT_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
RATINGS = {"helpful", "not_helpful"}


class FrameError(Exception):
    def __init__(self, code: str, detail: str, client_id: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.client_id = client_id


def _require(data: dict[str, Any], field: str, client_id: str | None = None) -> None:
    if field not in data:
        raise FrameError("missing_field", f"'{field}' is missing", client_id)


@dataclass(frozen=True)
class SendMessage:
    client_id: str
    text: str
    attachments: tuple[int, ...] = ()  # ids from the upload URL's answers (docs/attachments.md)


@dataclass(frozen=True)
class UploadRequest:
    pass


@dataclass(frozen=True)
class SendFeedback:
    message_id: int
    rating: str
    comment: str


@dataclass(frozen=True)
class Resume:
    last_seq: int


@dataclass(frozen=True)
class Ping:
    pass


@dataclass(frozen=True)
class HandoffRequest:
    pass


@dataclass(frozen=True)
class Typing:
    on: bool


@dataclass(frozen=True)
class SendCsat:
    score: int
    comment: str


@dataclass(frozen=True)
class SendOfflineMessage:
    email: str
    text: str


@dataclass(frozen=True)
class MemoryList:
    pass


@dataclass(frozen=True)
class MemoryDelete:
    """One of: a fact (`id`), a summary (`summary_id`), a preference, or everything (`all`)."""

    item_id: int | None = None
    summary_id: int | None = None
    preference: str | None = None
    everything: bool = False
    messages: bool = False


@dataclass(frozen=True)
class MemoryExport:
    pass


@dataclass(frozen=True)
class SetPreferences:
    values: dict[str, str]


MemoryFrame = MemoryList | MemoryDelete | MemoryExport | SetPreferences
PREFERENCE_FIELDS = ("language", "tone", "name", "channel")


EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")


Frame = (
    SendMessage
    | SendFeedback
    | Resume
    | Ping
    | HandoffRequest
    | Typing
    | SendCsat
    | SendOfflineMessage
    | MemoryFrame
    | UploadRequest
)


# Each parsed frame's wire `type` (the per-type limits are keyed by it).
FRAME_TYPES: dict[type, str] = {
    SendMessage: "message",
    SendFeedback: "feedback",
    Resume: "resume",
    Ping: "ping",
    HandoffRequest: "handoff.request",
    Typing: "typing",
    SendCsat: "csat",
    SendOfflineMessage: "offline_message",
    MemoryList: "memory.list",
    MemoryDelete: "memory.delete",
    MemoryExport: "memory.export",
    SetPreferences: "preferences.set",
    UploadRequest: "upload.request",
}


def _int(data: dict[str, Any], field: str) -> int:
    _require(data, field)
    value = data.get(field)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise FrameError("invalid_field", f"'{field}' must be a non-negative integer")
    return value


def _attachment_ids(data: dict[str, Any], client_id: str) -> tuple[int, ...]:
    ids = data.get("attachments", [])
    if (
        not isinstance(ids, list)
        or len(ids) > settings.ATTACHMENTS_PER_MESSAGE
        or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in ids)
    ):
        raise FrameError(
            "invalid_field",
            f"'attachments' must be a list of at most {settings.ATTACHMENTS_PER_MESSAGE} ids",
            client_id,
        )
    return tuple(ids)


def parse_frame(raw: str) -> Frame:
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        raise FrameError("bad_json", "frame is not valid JSON") from None
    if not isinstance(data, dict):
        raise FrameError("bad_frame", "frame must be a JSON object")
    kind = data.get("type")
    if kind == "message":
        _require(data, "client_id")
        client_id = data.get("client_id")
        if not isinstance(client_id, str) or not CLIENT_ID.match(client_id):
            raise FrameError(
                "invalid_field", "'client_id' must be 1-64 letters, digits, '-' or '_'"
            )
        attachments = _attachment_ids(data, client_id)
        text = data.get("text", "" if attachments else None)
        if text is None:
            _require(data, "text", client_id)
        if not isinstance(text, str) or not (text.strip() or attachments):
            raise FrameError("invalid_field", "'text' must be a non-empty string", client_id)
        if len(text) > settings.WIDGET_MAX_MESSAGE_CHARS:
            raise FrameError(
                "too_long",
                f"'text' is over {settings.WIDGET_MAX_MESSAGE_CHARS} characters",
                client_id,
            )
        return SendMessage(client_id=client_id, text=text.strip(), attachments=attachments)
    if kind == "feedback":
        _require(data, "message_id")
        _require(data, "rating")
        rating = data.get("rating")
        if rating not in RATINGS:
            raise FrameError("invalid_field", "'rating' must be 'helpful' or 'not_helpful'")
        comment = data.get("comment", "")
        if not isinstance(comment, str) or len(comment) > 2000:
            raise FrameError(
                "invalid_field", "'comment' must be a string of at most 2000 characters"
            )
        return SendFeedback(
            message_id=_int(data, "message_id"), rating=rating, comment=comment.strip()
        )
    if kind == "resume":
        return Resume(last_seq=_int(data, "last_seq"))
    if kind == "upload.request":
        return UploadRequest()
    if kind == "ping":
        return Ping()
    if kind == "handoff.request":
        return HandoffRequest()
    if kind == "typing":
        _require(data, "on")
        on = data.get("on")
        if not isinstance(on, bool):
            raise FrameError("invalid_field", "'on' must be true or false")
        return Typing(on=on)
    if kind == "csat":
        _require(data, "score")
        score = data.get("score")
        if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
            raise FrameError("invalid_field", "'score' must be an integer from 1 to 5")
        comment = data.get("comment", "")
        if not isinstance(comment, str) or len(comment) > 2000:
            raise FrameError(
                "invalid_field", "'comment' must be a string of at most 2000 characters"
            )
        return SendCsat(score=score, comment=comment.strip())
    if kind == "offline_message":
        _require(data, "email")
        _require(data, "text")
        email = data.get("email")
        if not isinstance(email, str) or not EMAIL.match(email.strip()):
            raise FrameError("invalid_field", "'email' must be an e-mail address")
        text = data.get("text")
        if not isinstance(text, str) or not text.strip():
            raise FrameError("invalid_field", "'text' must be a non-empty string")
        if len(text) > settings.WIDGET_MAX_MESSAGE_CHARS:
            raise FrameError("too_long", "'text' is too long")
        return SendOfflineMessage(email=email.strip(), text=text.strip())
    if kind in ("memory.list", "memory.delete", "memory.export", "preferences.set"):
        return _memory_frame(str(kind), data)
    if kind is None:
        raise FrameError("missing_field", "frame has no 'type'")
    raise FrameError("unknown_type", f"unknown frame type {str(kind)[:40]!r}")


def _memory_frame(kind: str, data: dict[str, Any]) -> MemoryFrame:
    if kind == "memory.list":
        return MemoryList()
    if kind == "memory.export":
        return MemoryExport()
    if kind == "preferences.set":
        values = {name: data[name] for name in PREFERENCE_FIELDS if name in data}
        if not values:
            raise FrameError("missing_field", "set at least one of " + ", ".join(PREFERENCE_FIELDS))
        for name, value in values.items():
            if not isinstance(value, str) or len(value) > 100:
                raise FrameError("invalid_field", f"'{name}' must be a string of at most 100")
        return SetPreferences(values=values)
    if data.get("all") is True:
        messages = data.get("messages", False)
        if not isinstance(messages, bool):
            raise FrameError("invalid_field", "'messages' must be true or false")
        return MemoryDelete(everything=True, messages=messages)
    if "id" in data:
        return MemoryDelete(item_id=_int(data, "id"))
    if "summary_id" in data:
        return MemoryDelete(summary_id=_int(data, "summary_id"))
    preference = data.get("preference")
    if preference is not None:
        if preference not in PREFERENCE_FIELDS:
            raise FrameError(
                "invalid_field", "'preference' must be one of " + ", ".join(PREFERENCE_FIELDS)
            )
        return MemoryDelete(preference=preference)
    raise FrameError("missing_field", "give 'id', 'summary_id', 'preference' or 'all': true")
