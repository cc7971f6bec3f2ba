"""Writes the API performs: each goes through the owning app's service, never around it.

An agent's message goes through the desk's services and the conversation's state machine
(memory.conversations.states), as the console's does: the owner check, the bot's reply in
flight cut, a handoff and an audit row, queue events.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from ninja.errors import HttpError

from desk import services as desk
from memory.conversations.models import Conversation, Message

from .auth import Caller


def send_agent_message(conversation: Conversation, text: str, caller: Caller) -> Message:
    """A console user sends as themselves, claiming a conversation nobody owns yet; an API key
    sends as the organization's integration and leaves the conversation waiting for an agent.
    Someone else's conversation, or a resolved one, is a 409."""
    try:
        if caller.user_id is not None:
            agent = User.objects.get(pk=caller.user_id)
            return desk.send_agent_message(agent, conversation.pk, text, claim=True)
        assert caller.api_key_id is not None
        return desk.send_integration_message(conversation.pk, text, caller.api_key_id)
    except desk.Conflict as exc:
        raise HttpError(409, "Another agent owns this conversation, or it is resolved.") from exc
