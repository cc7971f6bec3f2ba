"""Console fan-out groups. Nothing here reaches the widget: the widget joins only `conv.<id>`.

- `desk.org.<id>`: the organization's queue changed (console consumers re-read it).
- `desk.user.<id>`: something for one agent (a transfer to them, a draft they asked for).
- `desk.conv.<id>`: console-only events of one conversation (internal notes).
"""

from __future__ import annotations

from typing import Any

from core.realtime import publish_to_group


def org_group(organization_id: int) -> str:
    return f"desk.org.{organization_id}"


def user_group(user_id: int) -> str:
    return f"desk.user.{user_id}"


def console_conversation_group(conversation_id: int) -> str:
    return f"desk.conv.{conversation_id}"


def queue_changed(organization_id: int) -> None:
    publish_to_group(org_group(organization_id), {"type": "desk.queue"})


def assigned(user_id: int, conversation_id: int) -> None:
    publish_to_group(
        user_group(user_id), {"type": "desk.assigned", "conversation_id": conversation_id}
    )


def note_added(conversation_id: int, note_id: int) -> None:
    publish_to_group(
        console_conversation_group(conversation_id), {"type": "desk.note", "note_id": note_id}
    )


def draft_ready(user_id: int, conversation_id: int, text: str, **extra: Any) -> None:
    publish_to_group(
        user_group(user_id),
        {"type": "desk.draft", "conversation_id": conversation_id, "text": text, **extra},
    )


def summary_ready(conversation_id: int) -> None:
    publish_to_group(console_conversation_group(conversation_id), {"type": "desk.summary"})
