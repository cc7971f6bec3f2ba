"""The website widget's socket: a visitor's conversation with a bot (docs/protocol.md)."""

from __future__ import annotations

import contextlib
import json
import re
import time
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from bots.models import WidgetKey
from bots.selectors import live_widget_key
from core.realtime import conversation_group
from desk import services as desk_services
from desk.intake import accept_customer_message, rate_reply
from desk.selectors import status_frame
from memory.attachments.services import upload_limits, upload_url
from memory.conversations import selectors
from memory.conversations.frames import MessagePayload, message_payload
from memory.conversations.models import Conversation, Message
from memory.conversations.services import NotFound, find_open_conversation, open_conversation
from memory.longterm.contacts import IdentityRejected, contact_id_for, verify_visitor
from memory.longterm.identity import IdentityClaim

from . import limits
from .frames import (
    FRAME_TYPES,
    Frame,
    FrameError,
    HandoffRequest,
    MemoryFrame,
    Ping,
    Resume,
    SendCsat,
    SendFeedback,
    SendMessage,
    SendOfflineMessage,
    SetPreferences,
    Typing,
    UploadRequest,
    parse_frame,
)
from .memory_frames import answer_memory_frame
from .transient import TRANSIENT_ERRORS, unavailable

VISITOR_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
CLOSE_TOO_MANY_SOCKETS = 4429
CLOSE_TOO_BIG = 1009
CLOSE_FORBIDDEN = 4403
CLOSE_UNVERIFIED = 4401  # an identity claim that is not signed with the bot's secret
CLOSE_ERASED = 4410  # the customer erased everything, this conversation included
CLOSE_TRY_AGAIN = 1013  # Redis or the database unreachable at connect: the widget retries


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


@database_sync_to_async  # type: ignore[untyped-decorator]
def _find_conversation(
    widget_key: WidgetKey, visitor_id: str, claim: IdentityClaim | None = None
) -> tuple[str, Conversation | None]:
    """(the contact's visitor id, its open conversation or None); creates no conversation.

    A verified claim merges the anonymous visitor into the user's contact here (raising
    IdentityRejected unless signed with the bot's secret); an anonymous visitor is only read.
    """
    if claim is not None:
        visitor_id = verify_visitor(widget_key.bot, visitor_id, claim).visitor_id
    return visitor_id, find_open_conversation(widget_key.bot, visitor_id)


def _client_address(scope: dict[str, Any]) -> str:
    """The peer's address (behind a proxy: the one uvicorn's --proxy-headers trusts)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _identity_claim(query: dict[str, list[str]]) -> IdentityClaim | None:
    fields = {name: (query.get(name) or [""])[0] for name in ("user_id", "user_hash", "token")}
    return IdentityClaim(**fields) if any(fields.values()) else None


def _client_id_of(text_data: str | None) -> str | None:
    """The `client_id` of a message frame, for an error about it (None if there is none)."""
    try:
        frame = json.loads(text_data or "")
    except ValueError:
        return None
    client_id = frame.get("client_id") if isinstance(frame, dict) else None
    return client_id if isinstance(client_id, str) else None


def _rate_limited(refusal: limits.Refusal, client_id: str | None = None) -> dict[str, Any]:
    frame: dict[str, Any] = {
        "type": "error",
        "code": "rate_limited",
        "detail": f"slow down: too many {refusal.what} from this {refusal.per}; "
        f"try again in {max(1, round(refusal.verdict.retry_after_s))} s",
    }
    if client_id:
        frame["client_id"] = client_id
    return frame


class WidgetConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    conversation: Conversation | None
    group: str | None

    async def connect(self) -> None:
        try:
            await self._connect()
        except TRANSIENT_ERRORS as error:
            unavailable(error, "widget connect")
            # Before accept: the handshake is refused and the widget tries again (backoff).
            await self.close(code=CLOSE_TRY_AGAIN)

    async def _connect(self) -> None:
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        key = (query.get("key") or [""])[0]
        visitor_id = (query.get("visitor") or [""])[0]
        origin = _header(self.scope, b"origin")
        self.ip = _client_address(self.scope)
        self.seq = 0
        widget_key = None
        if key and VISITOR_ID.match(visitor_id):
            widget_key = await database_sync_to_async(live_widget_key)(key, origin)
        if widget_key is None:
            await self.close(code=CLOSE_FORBIDDEN)  # before accept: the handshake gets a 403
            return
        # Before anything is written: a flood of connects from one address, or at one
        # organization, is turned away here.
        refusal = await limits.admit_connect(widget_key.bot.organization_id, self.ip)
        if refusal is not None:
            await self.accept()  # accepted only to say why, then closed
            await self._send(_rate_limited(refusal))
            await self.close(code=CLOSE_TOO_MANY_SOCKETS)
            return
        try:
            contact_visitor_id, conversation = await _find_conversation(
                widget_key, visitor_id, _identity_claim(query)
            )
        except IdentityRejected:
            # Accepted only to say why: the widget can drop the claim and go anonymous.
            await self.accept()
            await self.close(code=CLOSE_UNVERIFIED)
            return
        self.bot = widget_key.bot
        self.organization_id = widget_key.bot.organization_id
        self.visitor_id = visitor_id
        self.contact_visitor_id = contact_visitor_id
        self.conversation = None
        self.group = None
        if not await limits.open_socket(self.organization_id, visitor_id, self.channel_name):
            await self.accept()  # accepted only to say why, then closed
            await self._send(
                {
                    "type": "error",
                    "code": "too_many_sockets",
                    "detail": "too many open chats for this visitor; close another tab",
                }
            )
            await self.close(code=CLOSE_TOO_MANY_SOCKETS)
            return
        self.socket_counted_at = time.monotonic()
        # Per message id: how much text this socket has sent, and whether it sent the final
        # version; deltas and re-sent snapshots are trimmed against it (nothing repeats).
        self.sent_text: dict[int, int] = {}
        self.sent_final: set[int] = set()
        self.seq = 0
        self.status = Conversation.Status.BOT.value
        if conversation is not None:
            # Join the group before any snapshot is read, so nothing falls between the two.
            await self._join(conversation)
        await self.accept()
        await self._send(
            {
                "type": "hello",
                "seq": conversation.last_seq if conversation else 0,
                # None until the customer's first message starts a conversation.
                "conversation_id": conversation.pk if conversation else None,
                "status": self.status,
                "bot": {"name": self.bot.name, "greeting": self.bot.greeting},
                # What the attach control shows before a file is chosen (docs/attachments.md).
                "uploads": upload_limits(),
            }
        )
        if conversation is not None and conversation.status != Conversation.Status.BOT:
            await self._send(await database_sync_to_async(status_frame)(conversation.pk))

    async def _join(self, conversation: Conversation) -> None:
        self.conversation = conversation
        self.status = conversation.status
        self.group = conversation_group(conversation.pk)
        assert self.channel_layer is not None
        await self.channel_layer.group_add(self.group, self.channel_name)

    async def _start_conversation(self, client_id: str | None = None) -> Conversation:
        """The socket's conversation, started now (the customer's first message, a request
        for a human, an offline message) within the new-conversation limits."""
        if self.conversation is not None:
            return self.conversation
        refusal = await limits.admit_new_conversation(self.organization_id, self.ip)
        if refusal is not None:
            raise FrameError("rate_limited", _rate_limited(refusal)["detail"], client_id)
        conversation: Conversation = await database_sync_to_async(open_conversation)(
            self.bot, self.contact_visitor_id
        )
        await self._join(conversation)
        return conversation

    async def disconnect(self, code: int) -> None:
        try:
            if hasattr(self, "socket_counted_at"):
                await limits.close_socket(self.organization_id, self.visitor_id, self.channel_name)
            if getattr(self, "group", None) and self.channel_layer is not None:
                await self.channel_layer.group_discard(self.group, self.channel_name)
        except TRANSIENT_ERRORS as error:
            # The socket's entries expire on their own (limits.SOCKET_STALE_S, the layer's
            # group expiry); a shutdown or a Redis blip must not log a crash for each socket.
            unavailable(error, "widget disconnect")

    async def _send(self, frame: dict[str, Any]) -> None:
        frame.setdefault("seq", self.seq)
        self.seq = max(self.seq, int(frame["seq"]))
        await self.send(text_data=json.dumps(frame, separators=(",", ":")))

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            await self._receive(text_data, bytes_data)
        except TRANSIENT_ERRORS as error:
            # Redis or the database failed us for a moment: say so, keep the socket. A message
            # was either stored (its resend gets the ack) or not (its resend stores it).
            frame = unavailable(error, "widget frame", _client_id_of(text_data))
            with contextlib.suppress(OSError):  # the socket itself is gone: nobody to tell
                await self._send(frame)

    async def _receive(self, text_data: str | None, bytes_data: bytes | None) -> None:
        if time.monotonic() - self.socket_counted_at > limits.SOCKET_REFRESH_S:
            self.socket_counted_at = time.monotonic()
            await limits.refresh_socket(self.organization_id, self.visitor_id, self.channel_name)
        if bytes_data is not None:
            if len(bytes_data) > settings.WIDGET_MAX_FRAME_BYTES:
                await self.close(code=CLOSE_TOO_BIG)
                return
            await self._send(
                {"type": "error", "code": "binary_not_supported", "detail": "send JSON text frames"}
            )
            return
        raw = text_data or ""
        if len(raw.encode("utf-8")) > settings.WIDGET_MAX_FRAME_BYTES:
            await self.close(code=CLOSE_TOO_BIG)
            return
        frame: Frame | None = None
        malformed: FrameError | None = None
        try:
            frame = parse_frame(raw)
        except FrameError as error:
            malformed = error
        refusal = await limits.admit_frame(
            self.organization_id, self.ip, FRAME_TYPES.get(type(frame))
        )
        if refusal is not None and not (
            isinstance(frame, SendMessage) and await self._already_stored(frame.client_id)
        ):
            client_id = frame.client_id if isinstance(frame, SendMessage) else None
            await self._send(_rate_limited(refusal, client_id))
            return
        try:
            if malformed is not None:
                raise malformed
            if isinstance(frame, SendMessage):
                await self.on_message(frame)
            elif isinstance(frame, SendFeedback):
                await self.on_feedback(frame)
            elif isinstance(frame, Resume):
                await self.on_resume(frame)
            elif isinstance(frame, Ping):
                # Re-join the group (idempotent): after a Redis restart lost the membership,
                # a pinging socket gets live frames again.
                assert self.channel_layer is not None
                if self.group:
                    await self.channel_layer.group_add(self.group, self.channel_name)
                await self._send({"type": "pong"})
            elif isinstance(frame, HandoffRequest):
                await self.on_handoff_request()
            elif isinstance(frame, Typing):
                await self.on_typing(frame)
            elif isinstance(frame, SendCsat):
                await self.on_csat(frame)
            elif isinstance(frame, SendOfflineMessage):
                await self.on_offline_message(frame)
            elif isinstance(frame, MemoryFrame):
                await self.on_memory_frame(frame)
            elif isinstance(frame, UploadRequest):
                await self.on_upload_request()
        except FrameError as error:
            reply: dict[str, Any] = {"type": "error", "code": error.code, "detail": error.detail}
            if error.client_id:
                reply["client_id"] = error.client_id
            await self._send(reply)

    async def on_memory_frame(self, frame: MemoryFrame) -> None:
        # The socket's contact is made only when the customer stores something (a preference).
        contact_id = await database_sync_to_async(contact_id_for)(
            self.organization_id, self.contact_visitor_id, create=isinstance(frame, SetPreferences)
        )
        if contact_id is None:
            # A signed-in customer's contact exists from the connect on: this is an anonymous
            # visitor who has stored nothing, refused like one who has (memory_frames).
            raise FrameError(
                "identity_required",
                "stored memory is shown and erased only for a signed-in customer",
            )
        reply, erased = await database_sync_to_async(answer_memory_frame)(contact_id, frame)
        await self._send(reply)
        if erased:
            await self.close(code=CLOSE_ERASED)

    async def _already_stored(self, client_id: str) -> bool:
        """A resend of a stored message gets its ack again: never refused by the rate limit."""
        if self.conversation is None:
            return False
        return bool(
            await database_sync_to_async(selectors.is_stored)(self.conversation.pk, client_id)
        )

    async def on_message(self, frame: SendMessage) -> None:
        verdict = await limits.take_message_token(self.organization_id, self.visitor_id)
        if not verdict.allowed and not await self._already_stored(frame.client_id):
            raise FrameError(
                "rate_limited",
                f"slow down: at most {settings.WIDGET_RATE_MESSAGES} messages every "
                f"{settings.WIDGET_RATE_WINDOW_S} s; try again in {verdict.retry_after_s:.0f} s",
                frame.client_id,
            )
        conversation = await self._start_conversation(frame.client_id)
        # Not thread-sensitive: each call is one transaction on its own connection, so the
        # web process stores many conversations' messages at once instead of one at a time
        # on the shared sync thread (50 conversations queued ~5 s behind it; docs/benchmarks.md).
        message, _created = await database_sync_to_async(
            accept_customer_message, thread_sensitive=False
        )(conversation, frame.client_id, frame.text, frame.attachments)
        # Acknowledged only now: the message is committed. A resend gets the same ack.
        self.sent_final.add(message.pk)
        await self._send(
            {
                "type": "ack",
                "seq": message.seq,
                "client_id": frame.client_id,
                "message": message_payload(message),
            }
        )

    async def on_upload_request(self) -> None:
        """An upload URL for this visitor's conversation (files go over HTTP, not the socket)."""
        conversation = await self._start_conversation()  # a file is the start of a real one
        await self._send({"type": "upload.url", "url": upload_url(conversation), **upload_limits()})

    async def on_feedback(self, frame: SendFeedback) -> None:
        if self.conversation is None:
            raise FrameError("not_found", "no such reply in this conversation")
        try:
            rating = await database_sync_to_async(rate_reply)(
                self.conversation, frame.message_id, frame.rating, frame.comment
            )
        except NotFound:
            raise FrameError("not_found", "no such reply in this conversation") from None
        await self._send({"type": "feedback", "message_id": frame.message_id, "rating": rating})

    async def on_handoff_request(self) -> None:
        conversation = await self._start_conversation()  # asking for a person is a real one
        opened = await database_sync_to_async(desk_services.ask_for_human)(conversation.pk)
        # The status frame itself comes through the group once the move is committed; when
        # nobody is there (outside business hours) the customer is told at once.
        if not opened:
            await self._send({"type": "conversation.status", "status": "bot", "offline": True})

    async def on_typing(self, frame: Typing) -> None:
        assert self.channel_layer is not None
        if self.group is None:
            return  # no conversation yet: no agent to see it
        await self.channel_layer.group_send(
            self.group, {"type": "typing", "who": "customer", "on": frame.on}
        )

    async def on_csat(self, frame: SendCsat) -> None:
        if self.conversation is None:
            raise FrameError("invalid_field", "the conversation is not resolved")
        try:
            csat = await database_sync_to_async(desk_services.record_csat)(
                self.conversation.pk, frame.score, frame.comment
            )
        except desk_services.Conflict:
            raise FrameError("invalid_field", "the conversation is not resolved") from None
        await self._send({"type": "csat.saved", "score": csat.score})

    async def on_offline_message(self, frame: SendOfflineMessage) -> None:
        conversation = await self._start_conversation()  # a message for the team is real
        await database_sync_to_async(desk_services.record_offline_message)(
            conversation.pk, frame.email, frame.text
        )
        await self._send({"type": "offline_message.saved"})

    async def on_resume(self, frame: Resume) -> None:
        joined = self.conversation
        if joined is None:
            # Another tab of this visitor may have started the conversation since `hello`.
            joined = await database_sync_to_async(find_open_conversation)(
                self.bot, self.contact_visitor_id
            )
            if joined is None:
                await self._send({"type": "resumed", "seq": 0})  # nothing said yet
                return
            await self._join(joined)
        messages, ratings, last_seq = await database_sync_to_async(selectors.resume_snapshot)(
            joined.pk, frame.last_seq
        )
        for message in messages:
            await self._send_message(message, ratings.get(message.pk), force=True)
        await self._send({"type": "resumed", "seq": last_seq})

    async def _send_message(
        self, message: Message, feedback: str | None = None, force: bool = False
    ) -> None:
        await self._send_payload(message_payload(message, feedback), force)

    async def _send_payload(self, payload: MessagePayload, force: bool = False) -> None:
        message_id = payload["id"]
        if message_id in self.sent_final and not force:
            return
        if payload["status"] != Message.Status.STREAMING:
            self.sent_final.add(message_id)
        self.sent_text[message_id] = len(payload["text"])
        await self._send({"type": "message", "seq": payload["seq"], "message": payload})

    # Group events (published by services and the model worker).

    async def message_stored(self, event: dict[str, Any]) -> None:
        if int(event["message_id"]) in self.sent_final:
            return  # sent in its final state already (our own message's ack): nothing new
        if "message" in event:
            # The row as its writer committed it (a new reply): nothing to read back.
            await self._send_payload(event["message"])
            return
        # A plain read, off the shared sync thread: the first delta waits behind this fetch.
        message = await database_sync_to_async(selectors.message_for_frame, thread_sensitive=False)(
            int(event["message_id"])
        )
        if message is not None:
            await self._send_message(message)

    async def conversation_status(self, event: dict[str, Any]) -> None:
        assert self.conversation is not None  # group events come only once joined
        frame = await database_sync_to_async(status_frame)(self.conversation.pk)
        self.status = str(frame["status"])
        await self._send(frame)

    async def typing(self, event: dict[str, Any]) -> None:
        if event.get("who") == "agent":
            await self._send({"type": "typing", "who": "agent", "on": bool(event.get("on"))})

    async def csat_request(self, event: dict[str, Any]) -> None:
        await self._send({"type": "csat.request"})

    async def message_labelled(self, event: dict[str, Any]) -> None:
        """Topic and sentiment labels are for the console and analytics, not the customer."""

    async def reply_delta(self, event: dict[str, Any]) -> None:
        message_id = int(event["message_id"])
        if message_id in self.sent_final:
            return
        if self.status != Conversation.Status.BOT:
            return  # an agent took over: the bot's stream is cut, nothing more of it shows
        sent = self.sent_text.get(message_id)
        offset, text = int(event["offset"]), str(event["text"])
        if sent is None or offset > sent:
            # We missed the start (joined mid-reply, or a frame was dropped): resend the row.
            message = await database_sync_to_async(
                selectors.message_for_frame, thread_sensitive=False
            )(message_id)
            if message is not None:
                await self._send_message(message)
            return
        if offset + len(text) <= sent:
            return
        fresh = text[sent - offset :]
        self.sent_text[message_id] = offset + len(text)
        await self._send(
            {
                "type": "reply.delta",
                "seq": int(event["seq"]),
                "message_id": message_id,
                "offset": sent,
                "text": fresh,
            }
        )
