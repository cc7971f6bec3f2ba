"""The agent console's socket: the live queue, one watched conversation, and agent actions.

Session-authenticated (AuthMiddlewareStack) and origin-checked (AllowedHostsOriginValidator)
in asgi.py. Every action names a conversation id and goes through one access check; a
foreign or missing conversation answers the same `not_found`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth.models import User

from accounts.access import NotFound, org_ids_for_user
from core.realtime import conversation_group
from desk import events, presence, selectors, services
from desk.models import AgentPresence, ConsoleSocket
from desk.tasks import draft_reply
from memory.conversations.selectors import message_for_frame

from .transient import TRANSIENT_ERRORS, unavailable

log = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403
CLOSE_TRY_AGAIN = 1013  # Redis or the database unreachable at connect: the console retries
MAX_FRAME = 64 * 1024
MAX_TEXT = 4000


class ActionError(Exception):
    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def _conversation_id(frame: dict[str, Any]) -> int:
    value = frame.get("conversation_id")
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ActionError("invalid_field", "'conversation_id' must be a positive integer")
    return value


def _attachment_ids(frame: dict[str, Any]) -> tuple[int, ...]:
    """Files the agent uploaded for this reply (POST /console/c/<id>/uploads)."""
    ids = frame.get("attachments", [])
    if (
        not isinstance(ids, list)
        or len(ids) > settings.ATTACHMENTS_PER_MESSAGE
        or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in ids)
    ):
        raise ActionError(
            "invalid_field",
            f"'attachments' must be a list of at most {settings.ATTACHMENTS_PER_MESSAGE} ids",
        )
    return tuple(ids)


def _text(frame: dict[str, Any], empty_ok: bool = False) -> str:
    text = frame.get("text", "" if empty_ok else None)
    if not isinstance(text, str) or not (text.strip() or empty_ok):
        raise ActionError("invalid_field", "'text' must be a non-empty string")
    if len(text) > MAX_TEXT:
        raise ActionError("too_long", f"'text' is over {MAX_TEXT} characters")
    return text.strip()


class ConsoleConsumer(AsyncWebsocketConsumer):  # type: ignore[misc]
    user: User
    org_ids: list[int]
    watching: int | None = None
    heartbeat: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        try:
            await self._connect()
        except TRANSIENT_ERRORS as error:
            unavailable(error, "console connect")
            await self.close(code=CLOSE_TRY_AGAIN)

    async def _connect(self) -> None:
        user = self.scope.get("user")
        org_ids: list[int] = []
        if user is not None and user.is_authenticated:
            org_ids = await database_sync_to_async(org_ids_for_user)(user)
        if not org_ids:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.user, self.org_ids = user, org_ids
        assert self.channel_layer is not None
        for org_id in org_ids:
            await self.channel_layer.group_add(events.org_group(org_id), self.channel_name)
        await self.channel_layer.group_add(events.user_group(user.pk), self.channel_name)
        await self.accept()
        await database_sync_to_async(presence.console_opened)(user, self.channel_name)
        self.heartbeat = asyncio.create_task(self._beat())
        await self._send_queue()

    async def disconnect(self, code: int) -> None:
        if not hasattr(self, "user") or self.channel_layer is None:
            return
        if self.heartbeat is not None:
            self.heartbeat.cancel()
        try:
            await self._leave()
        except TRANSIENT_ERRORS as error:
            # Groups expire on their own; presence rows stop being beaten (desk.presence).
            unavailable(error, "console disconnect")

    async def _leave(self) -> None:
        assert self.channel_layer is not None
        for org_id in self.org_ids:
            await self.channel_layer.group_discard(events.org_group(org_id), self.channel_name)
        await self.channel_layer.group_discard(events.user_group(self.user.pk), self.channel_name)
        await self._unwatch()
        await database_sync_to_async(presence.console_closed)(self.user.pk, self.channel_name)

    async def _beat(self) -> None:
        """Keep this tab counted (desk.presence): a crashed process stops beating its rows."""
        while True:
            await asyncio.sleep(ConsoleSocket.BEAT_S)
            try:
                await database_sync_to_async(presence.console_seen)(self.user, self.channel_name)
            except Exception:
                log.exception("console heartbeat failed; the next beat tries again")

    async def dispatch(self, message: dict[str, Any]) -> None:
        # The conversation group also carries events meant for the widget only; skip any
        # this consumer has no handler for instead of dropping the socket.
        handler = str(message.get("type", "")).replace(".", "_")
        if handler.startswith("websocket_") or hasattr(self, handler):
            await super().dispatch(message)

    async def _send(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(frame, separators=(",", ":"), default=str))

    async def _send_queue(self) -> None:
        queue = await database_sync_to_async(selectors.queue_snapshot)(self.user)
        await self._send({"type": "queue", **queue})

    async def _unwatch(self) -> None:
        if self.watching is not None and self.channel_layer is not None:
            await self.channel_layer.group_discard(
                conversation_group(self.watching), self.channel_name
            )
            await self.channel_layer.group_discard(
                events.console_conversation_group(self.watching), self.channel_name
            )
        self.watching = None

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        raw = text_data or ""
        if bytes_data is not None or len(raw) > MAX_FRAME:
            await self._send({"type": "error", "code": "bad_frame", "detail": "JSON text only"})
            return
        try:
            frame = json.loads(raw)
        except (json.JSONDecodeError, RecursionError):
            await self._send({"type": "error", "code": "bad_json", "detail": "not JSON"})
            return
        if not isinstance(frame, dict):
            await self._send({"type": "error", "code": "bad_frame", "detail": "not an object"})
            return
        action = str(frame.get("type", ""))
        handler = getattr(self, "do_" + action.replace(".", "_"), None)
        if handler is None:
            await self._send({"type": "error", "code": "unknown_type", "action": action})
            return
        try:
            result = await handler(frame)
        except TRANSIENT_ERRORS as error:
            frame = {**unavailable(error, "console action"), "action": action}
            with contextlib.suppress(OSError):  # the socket itself is gone: nobody to tell
                await self._send(frame)
        except ActionError as error:
            await self._send(
                {"type": "error", "code": error.code, "detail": error.detail, "action": action}
            )
        except NotFound:
            await self._send({"type": "error", "code": "not_found", "action": action})
        except services.Conflict as error:
            await self._send(
                {"type": "error", "code": "conflict", "detail": str(error), "action": action}
            )
        else:
            await self._send({"type": "ok", "action": action, **(result or {})})

    # Actions (client → server). Each: parse, one access check inside the service, respond.

    async def do_ping(self, frame: dict[str, Any]) -> dict[str, Any]:
        return {}

    async def do_queue(self, frame: dict[str, Any]) -> dict[str, Any]:
        await self._send_queue()
        return {}

    async def do_watch(self, frame: dict[str, Any]) -> dict[str, Any]:
        conversation_id = _conversation_id(frame)
        await database_sync_to_async(selectors.access_conversation_for_agent)(
            self.user, conversation_id
        )
        await self._unwatch()
        assert self.channel_layer is not None
        await self.channel_layer.group_add(conversation_group(conversation_id), self.channel_name)
        await self.channel_layer.group_add(
            events.console_conversation_group(conversation_id), self.channel_name
        )
        self.watching = conversation_id
        # The status and newest messages now: a change between the page's render (or a lost
        # socket) and this subscription would otherwise never reach the page (the reply box
        # left disabled, a new message or a file's text missing). The page upserts by id.
        await self.conversation_status({})
        for message in await database_sync_to_async(selectors.latest_console_messages)(
            conversation_id
        ):
            await self._send(
                {"type": "message", "conversation_id": conversation_id, "message": message}
            )
        return {"conversation_id": conversation_id}

    async def do_claim(self, frame: dict[str, Any]) -> dict[str, Any]:
        conversation = await database_sync_to_async(services.claim_conversation)(
            self.user, _conversation_id(frame)
        )
        return {"conversation_id": conversation.pk}

    async def do_send(self, frame: dict[str, Any]) -> dict[str, Any]:
        files = _attachment_ids(frame)
        message = await database_sync_to_async(services.send_agent_message)(
            self.user,
            _conversation_id(frame),
            _text(frame, empty_ok=bool(files)),
            attachment_ids=files,
        )
        return {"message_id": message.pk}

    async def do_typing(self, frame: dict[str, Any]) -> dict[str, Any]:
        conversation_id = _conversation_id(frame)
        await database_sync_to_async(selectors.access_conversation_for_agent)(
            self.user, conversation_id
        )
        assert self.channel_layer is not None
        await self.channel_layer.group_send(
            conversation_group(conversation_id),
            {"type": "typing", "who": "agent", "on": bool(frame.get("on"))},
        )
        return {}

    async def do_note(self, frame: dict[str, Any]) -> dict[str, Any]:
        note = await database_sync_to_async(services.add_note)(
            self.user, _conversation_id(frame), _text(frame)
        )
        return {"note_id": note.pk}

    async def do_transfer(self, frame: dict[str, Any]) -> dict[str, Any]:
        to = frame.get("to")
        if isinstance(to, bool) or not isinstance(to, int):
            raise ActionError("invalid_field", "'to' must be an agent id")
        conversation = await database_sync_to_async(services.transfer_conversation)(
            self.user, _conversation_id(frame), to
        )
        return {"conversation_id": conversation.pk}

    async def do_hand_back(self, frame: dict[str, Any]) -> dict[str, Any]:
        conversation = await database_sync_to_async(services.hand_back_to_bot)(
            self.user, _conversation_id(frame)
        )
        return {"conversation_id": conversation.pk}

    async def do_resolve(self, frame: dict[str, Any]) -> dict[str, Any]:
        conversation = await database_sync_to_async(services.resolve_conversation)(
            self.user, _conversation_id(frame)
        )
        return {"conversation_id": conversation.pk}

    async def do_draft(self, frame: dict[str, Any]) -> dict[str, Any]:
        conversation_id = _conversation_id(frame)

        def ask() -> None:
            services.log_agent_action(self.user, conversation_id, "draft")
            draft_reply.delay(conversation_id, self.user.pk)

        await database_sync_to_async(ask)()
        return {"conversation_id": conversation_id}

    async def do_presence(self, frame: dict[str, Any]) -> dict[str, Any]:
        status = frame.get("status")
        if status not in (AgentPresence.Status.ONLINE, AgentPresence.Status.AWAY):
            raise ActionError("invalid_field", "'status' must be 'online' or 'away'")
        await database_sync_to_async(presence.choose_presence)(self.user, str(status))
        return {"status": status}

    # Group events.

    async def desk_queue(self, event: dict[str, Any]) -> None:
        await self._send_queue()

    async def desk_assigned(self, event: dict[str, Any]) -> None:
        await self._send({"type": "assigned", "conversation_id": event["conversation_id"]})

    async def desk_draft(self, event: dict[str, Any]) -> None:
        await self._send({**event, "type": "draft"})

    async def desk_summary(self, event: dict[str, Any]) -> None:
        if self.watching is None:
            return
        handoff = await database_sync_to_async(
            lambda: selectors.latest_handoff_for(self.watching)
        )()
        await self._send({"type": "summary", "conversation_id": self.watching, **handoff})

    async def desk_note(self, event: dict[str, Any]) -> None:
        note = await database_sync_to_async(selectors.note_for_frame)(int(event["note_id"]))
        if note is not None and note.conversation_id == self.watching:
            await self._send(
                {"type": "note", "conversation_id": self.watching, **selectors.note_payload(note)}
            )

    async def message_stored(self, event: dict[str, Any]) -> None:
        message = await database_sync_to_async(message_for_frame)(int(event["message_id"]))
        if message is not None and message.conversation_id == self.watching:
            await self._send(
                {
                    "type": "message",
                    "conversation_id": self.watching,
                    "message": selectors.console_message(message),
                }
            )

    async def reply_delta(self, event: dict[str, Any]) -> None:
        await self._send({**event, "type": "reply.delta", "conversation_id": self.watching})

    async def conversation_status(self, event: dict[str, Any]) -> None:
        if self.watching is None:
            return
        frame = await database_sync_to_async(selectors.status_frame)(self.watching)
        await self._send({**frame, "conversation_id": self.watching})

    async def typing(self, event: dict[str, Any]) -> None:
        if event.get("who") == "customer":
            await self._send(
                {
                    "type": "typing",
                    "who": "customer",
                    "on": bool(event.get("on")),
                    "conversation_id": self.watching,
                }
            )


__all__ = ["ActionError", "ConsoleConsumer"]
