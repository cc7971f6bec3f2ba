"""Agent presence, per agent and not per socket.

Every open console tab is a `ConsoleSocket` row that its web process beats every
`ConsoleSocket.BEAT_S`. An agent's `AgentPresence.status` is what they chose (`chosen`:
online or away) while at least one of their sockets is live, and `offline` when none is:
closing one of two tabs changes nothing. A process that crashed leaves rows nobody beats;
past `ConsoleSocket.EXPIRES_S` they stop counting (auto-assignment checks that itself) and
the next sweep (any console's connect or beat) deletes them and settles their agents.
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from accounts.models import Membership
from desk import events, selectors
from desk.assignment import assign_after_commit
from desk.models import AgentPresence, ConsoleSocket

Status = AgentPresence.Status


def _locked(user_id: int) -> AgentPresence | None:
    """The agent's presence row, locked: every change of one agent's presence is serialized
    (two tabs closing at once would otherwise each still count the other one)."""
    return AgentPresence.objects.select_for_update().filter(user_id=user_id).first()


def _locked_for(user: User) -> AgentPresence:
    AgentPresence.objects.get_or_create(user=user)
    return AgentPresence.objects.select_for_update().get(user=user)


def _organizations(user_id: int) -> list[int]:
    return list(
        Membership.objects.filter(user_id=user_id).values_list("organization_id", flat=True)
    )


def _settle(presence: AgentPresence) -> bool:
    """Status from the agent's choice and their live sockets; the consoles are told when
    it moved (True)."""
    live = selectors.live_console_sockets().filter(user_id=presence.user_id).exists()
    status = presence.chosen if live else Status.OFFLINE
    if status == presence.status:
        return False
    presence.status = status
    presence.save(update_fields=["status", "updated_at"])
    for org_id in _organizations(presence.user_id):
        events.queue_changed(org_id)
    return True


def console_opened(user: User, channel_name: str) -> None:
    """A console tab connected."""
    sweep_expired_sockets()
    with transaction.atomic():
        presence = _locked_for(user)
        ConsoleSocket.objects.update_or_create(
            channel_name=channel_name, defaults={"user": user, "seen_at": timezone.now()}
        )
        _settle(presence)
        # Every tab that connects online looks at the queue, not only the first: the status
        # may have read online already, left over from a process that died.
        if presence.status == Status.ONLINE:
            assign_after_commit(_organizations(user.pk))


def console_closed(user_id: int, channel_name: str) -> None:
    """A console tab disconnected (the user may be gone already)."""
    with transaction.atomic():
        presence = _locked(user_id)
        ConsoleSocket.objects.filter(channel_name=channel_name).delete()
        if presence is not None:
            _settle(presence)


def console_seen(user: User, channel_name: str) -> None:
    """The tab's heartbeat. A row swept while its process was stalled comes back."""
    beaten = ConsoleSocket.objects.filter(channel_name=channel_name).update(seen_at=timezone.now())
    if not beaten:
        console_opened(user, channel_name)
        return
    sweep_expired_sockets()


def choose_presence(user: User, chosen: str) -> None:
    """The agent picks online or away; it holds in every tab, and across logins, until they
    pick again. Away keeps their open conversations and stops new auto-assignments."""
    with transaction.atomic():
        presence = _locked_for(user)
        changed = presence.chosen != chosen
        if changed:
            presence.chosen = chosen
            presence.save(update_fields=["chosen", "updated_at"])
        moved = _settle(presence)
        if changed and not moved:
            for org_id in _organizations(user.pk):
                events.queue_changed(org_id)  # the other tabs show the choice
        if moved and presence.status == Status.ONLINE:
            assign_after_commit(_organizations(user.pk))


def sweep_expired_sockets() -> None:
    """Drop the sockets no process has beaten within the expiry; settle their agents."""
    cutoff = timezone.now() - timedelta(seconds=ConsoleSocket.EXPIRES_S)
    user_ids = set(
        ConsoleSocket.objects.filter(seen_at__lt=cutoff).values_list("user_id", flat=True)
    )
    for user_id in user_ids:
        with transaction.atomic():
            presence = _locked(user_id)
            ConsoleSocket.objects.filter(user_id=user_id, seen_at__lt=cutoff).delete()
            if presence is not None:
                _settle(presence)


__all__ = [
    "choose_presence",
    "console_closed",
    "console_opened",
    "console_seen",
    "sweep_expired_sockets",
]
