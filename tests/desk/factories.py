"""The desk's cast: agents and admins of an organization, a conversation waiting for them."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import User

from accounts.models import Membership, Organization
from bots.models import Bot
from desk import presence
from desk.models import AgentPresence, HandoffPolicy
from memory.conversations.models import Conversation
from memory.conversations.services import open_conversation
from tests.conftest import new_visitor_id

PASSWORD = "correct-horse-battery"


def make_agent(org: Organization, role: str = "agent", online: bool = True) -> User:
    user = User.objects.create_user(
        f"{role}-{uuid.uuid4().hex[:6]}", password=PASSWORD, first_name=role.title()
    )
    Membership.objects.create(user=user, organization=org, role=role)
    AgentPresence.objects.create(
        user=user, status=AgentPresence.Status.ONLINE if online else AgentPresence.Status.AWAY
    )
    return user


def make_conversation(bot: Bot, status: str = "bot") -> Conversation:
    conversation = open_conversation(bot, new_visitor_id())
    if status != "bot":
        Conversation.objects.filter(pk=conversation.pk).update(status=status)
        conversation.refresh_from_db()
    return conversation


def open_console_tab(agent: User) -> str:
    """What a console socket's connect does (desk.presence); returns the tab's channel name."""
    channel_name = f"test.{uuid.uuid4().hex}"
    presence.console_opened(agent, channel_name)
    return channel_name


def set_policy(bot: Bot, **fields: object) -> HandoffPolicy:
    policy, _ = HandoffPolicy.objects.update_or_create(bot=bot, defaults=fields)
    return policy


def manual_queue(bot: Bot) -> HandoffPolicy:
    """Agents claim from the queue themselves: no auto-assignment for this bot."""
    return set_policy(bot, auto_assign=False)
