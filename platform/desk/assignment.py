"""Auto-assignment: waiting conversations go to online agents with room (`HandoffPolicy`).

A pass runs after whatever changed the picture commits: a conversation started waiting, an
agent came online, an agent has room again (resolved, handed back, transferred away). Who
owns a conversation is still decided by the claim's conditional UPDATE
(`memory.conversations.states.take`), so a manual claim racing a pass gives one owner.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from desk import events, selectors
from desk.handoff import take_conversation
from memory.conversations.models import Conversation

log = logging.getLogger(__name__)

# pg_advisory_xact_lock(namespace, organization): one pass per organization at a time.
LOCK_NAMESPACE = 0x53574431  # "SWD1"
PASS_LIMIT = 200  # waiting conversations looked at per pass


@dataclass
class _Agent:
    user_id: int
    open_count: int
    last_assigned_at: datetime | None

    def rank(self) -> tuple[int, int, float, int]:
        never = self.last_assigned_at is None
        stamp = 0.0 if self.last_assigned_at is None else self.last_assigned_at.timestamp()
        return (self.open_count, 0 if never else 1, stamp, self.user_id)


def assign_after_commit(organization_ids: Iterable[int]) -> None:
    """Run a pass for each organization once the current transaction commits (at once
    outside one). A failed pass is logged; the conversations stay in the queue to claim."""
    for organization_id in set(organization_ids):
        # A function, not a partial: Django logs a robust callback's failure by __qualname__.
        def run(organization_id: int = organization_id) -> None:
            assign_waiting_conversations(organization_id)

        transaction.on_commit(run, robust=True)


def _lock_organization(organization_id: int) -> None:
    # Without it two passes could each see an agent one below capacity and both give them a
    # conversation. Claims do not take it: a claim is the agent's own choice, above capacity
    # or not, and the conditional UPDATE already keeps the owner unique.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s::int, %s::int)",
            [LOCK_NAMESPACE, organization_id % 2**31],
        )


def assign_waiting_conversations(organization_id: int) -> list[int]:
    """Give the organization's waiting conversations, longest waiting first, to its online
    agents: fewest open conversations first, ties to whoever was assigned least recently,
    never above the bot's `max_open_per_agent`. Returns the ids assigned."""
    assigned: list[int] = []
    with transaction.atomic():
        _lock_organization(organization_id)
        agents = [_Agent(*row) for row in selectors.assignable_agents(organization_id)]
        if not agents:
            return assigned
        users = User.objects.in_bulk([agent.user_id for agent in agents])
        waiting = list(selectors.conversations_to_assign(organization_id)[:PASS_LIMIT])
        for conversation_id, capacity in waiting:
            agents.sort(key=_Agent.rank)
            agent = agents[0]  # the least loaded: if they are full, everyone is
            if capacity and agent.open_count >= capacity:
                continue
            conversation = Conversation.objects.get(pk=conversation_id)
            user = users[agent.user_id]
            if not take_conversation(
                conversation, user, None, "auto_assign", to=user.pk, by="auto-assign"
            ):
                continue  # claimed by hand a moment ago
            events.assigned(user.pk, conversation_id)
            agent.open_count += 1
            agent.last_assigned_at = timezone.now()
            assigned.append(conversation_id)
    if assigned:
        log.info("auto-assigned %s in organization %s", assigned, organization_id)
    return assigned


__all__ = ["assign_after_commit", "assign_waiting_conversations"]
