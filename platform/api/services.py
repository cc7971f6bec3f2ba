"""Writes the API performs that no other app offers yet.

`send_agent_message` belongs with the desk (issue #4); when desk grows its own service the
endpoint should call that instead.
"""

from __future__ import annotations

from django.db import transaction

from memory.models import Conversation, Message
from memory.services import allocate_seq
from switchboard.realtime import publish_message_stored


def send_agent_message(conversation: Conversation, text: str, author_id: int | None) -> Message:
    """Store an agent message; a conversation still with the bot moves to the agent."""
    with transaction.atomic():
        locked = Conversation.objects.select_for_update().get(pk=conversation.pk)
        message = Message.objects.create(
            conversation=locked,
            seq=allocate_seq(locked.pk),
            role=Message.Role.AGENT,
            text=text,
            status=Message.Status.RECEIVED,
            author_id=author_id,
        )
        if locked.status in (Conversation.Status.BOT, Conversation.Status.WAITING):
            # The bot's conditional writes require status "bot": this stops a reply mid-stream.
            locked.status = Conversation.Status.AGENT
            fields = ["status", "updated_at"]
            if author_id is not None and locked.assignee_id is None:
                locked.assignee_id = author_id
                fields.append("assignee")
            locked.save(update_fields=fields)
        publish_message_stored(locked.pk, message.pk)
    return message
