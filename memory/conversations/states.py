"""The conversation's state machine: every change of who has a conversation goes through here.

Who may move a conversation is decided by Postgres, never by a Python check: each move is
one conditional `UPDATE … WHERE status IN (…) AND assignee …` built from `MOVES`; when it
changes no row, the conversation was not in a state that allows it (someone else got there
first) and the caller is told. What a move means to the desk (the handoff trip and its
summary, audit rows, queue events, auto-assignment, webhooks) is the desk's, which calls these
inside its own transaction.

| move      | from         | to       | only while                | made by                       |
| --------- | ------------ | -------- | ------------------------- | ----------------------------- |
| hand_off  | bot          | waiting  | —                         | a trigger, the customer, a key |
| take      | bot, waiting | agent    | nobody is assigned        | a claim, takeover, auto-assign |
| transfer  | agent        | agent    | the giver is the assignee | the owner                     |
| hand_back | agent        | bot      | the agent is the assignee | the owner                     |
| resolve   | agent        | resolved | the agent is the assignee | the owner                     |
| reopen    | resolved     | bot      | —                         | the customer writes again     |

Messages that are not the customer's or the bot's move nothing, but are guarded the same way:
an agent's message only while that agent owns the conversation (`lock_owned`), an
integration's (an API key's) only while it waits for an agent (`post_integration_message`).
Taking and handing off cut a bot reply in flight (`cut_streaming_replies`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from core.realtime import publish_message_stored

from . import events
from .attachments import link_attachments
from .models import Conversation, Message
from .services import allocate_seq

Status = Conversation.Status
CUT_NOTE = "stopped: an agent took over"


class Conflict(Exception):
    """The conversation is not in a state that allows this (someone else owns it, …)."""


class Move(StrEnum):
    HAND_OFF = "hand_off"
    TAKE = "take"
    TRANSFER = "transfer"
    HAND_BACK = "hand_back"
    RESOLVE = "resolve"
    REOPEN = "reopen"


@dataclass(frozen=True)
class Rule:
    sources: tuple[Conversation.Status, ...]
    target: Conversation.Status
    unassigned: bool = False  # only while nobody owns it: exactly one taker wins
    owned: bool = False  # only the assignee named by the caller may make it


MOVES: dict[Move, Rule] = {
    Move.HAND_OFF: Rule((Status.BOT,), Status.WAITING),
    Move.TAKE: Rule((Status.BOT, Status.WAITING), Status.AGENT, unassigned=True),
    Move.TRANSFER: Rule((Status.AGENT,), Status.AGENT, owned=True),
    Move.HAND_BACK: Rule((Status.AGENT,), Status.BOT, owned=True),
    Move.RESOLVE: Rule((Status.AGENT,), Status.RESOLVED, owned=True),
    Move.REOPEN: Rule((Status.RESOLVED,), Status.BOT),
}


def allowed(move: Move, status: str) -> bool:
    """Whether `move` may start from `status` (the guard on the assignee aside)."""
    return status in MOVES[move].sources


def _move(conversation_id: int, move: Move, owner: User | None = None, **fields: Any) -> bool:
    """The one conditional UPDATE of a move; False when it changed no row."""
    rule = MOVES[move]
    match = Conversation.objects.filter(pk=conversation_id, status__in=rule.sources)
    if rule.unassigned:
        match = match.filter(assignee__isnull=True)
    if rule.owned:
        if owner is None:
            raise ValueError(f"{move} needs the owner")
        match = match.filter(assignee=owner)
    return bool(match.update(status=rule.target, updated_at=timezone.now(), **fields))


def cut_streaming_replies(conversation_id: int) -> None:
    """Freeze a bot reply in flight with the text so far: nothing stays 'streaming'.

    The worker's next conditional write (`bots.services._still_ours`) then finds no row and
    stops before it publishes anything more.
    """
    cut = list(
        Message.objects.select_for_update()
        .filter(
            conversation_id=conversation_id,
            role=Message.Role.BOT,
            status=Message.Status.STREAMING,
        )
        .values_list("pk", flat=True)
    )
    if not cut:
        return
    Message.objects.filter(pk__in=cut, status=Message.Status.STREAMING).update(
        status=Message.Status.FINAL,
        error=CUT_NOTE,
        lease_until=None,
        lease_token="",
        updated_at=timezone.now(),
    )
    for message in Message.objects.filter(pk__in=cut).order_by("seq"):
        events.message_created(message)
        publish_message_stored(conversation_id, message.pk)


def hand_off(conversation_id: int, reason: str) -> Conversation | None:
    """Bot → waiting for an agent, its reply in flight cut; the conversation as it is now, or
    None when it was not with the bot. Call inside a transaction."""
    if not _move(conversation_id, Move.HAND_OFF, assignee=None, handoff_reason=reason):
        return None
    conversation = Conversation.objects.get(pk=conversation_id)
    cut_streaming_replies(conversation_id)
    events.handoff_requested(conversation)
    return conversation


def take(conversation: Conversation, agent: User) -> bool:
    """Bot or waiting → this agent, its reply in flight cut; False when someone else got there
    first (the UPDATE only matches while nobody is assigned). Call inside a transaction."""
    if not _move(conversation.pk, Move.TAKE, assignee=agent):
        return False
    events.conversation_moved(conversation, Status.AGENT)
    cut_streaming_replies(conversation.pk)
    return True


def transfer(conversation: Conversation, owner: User, to: User) -> bool:
    """The owner gives the conversation to another agent; False when `owner` does not own it.
    No event: the conversation stays with an agent."""
    return _move(conversation.pk, Move.TRANSFER, owner, assignee=to)


def hand_back(conversation: Conversation, owner: User) -> bool:
    """The owner gives the conversation back to the bot; False when `owner` does not own it."""
    if not _move(conversation.pk, Move.HAND_BACK, owner, assignee=None):
        return False
    events.conversation_moved(conversation, Status.BOT)
    return True


def resolve(conversation: Conversation, owner: User) -> bool:
    """The owner closes the conversation; False when `owner` does not own it."""
    if not _move(conversation.pk, Move.RESOLVE, owner, resolved_at=timezone.now()):
        return False
    events.conversation_resolved(Conversation.objects.get(pk=conversation.pk))
    return True


def reopen(conversation_id: int) -> bool:
    """A resolved conversation goes back to the bot (the customer wrote again)."""
    before = Conversation.objects.filter(pk=conversation_id).first()
    if before is None or not _move(conversation_id, Move.REOPEN, assignee=None, resolved_at=None):
        return False
    events.conversation_moved(before, Status.BOT, before.resolved_at)
    return True


def lock_owned(conversation_id: int, agent: User) -> Conversation:
    """The conversation, locked until the transaction ends, if this agent owns it now;
    Conflict otherwise. Call inside a transaction."""
    locked = (
        Conversation.objects.select_for_update()
        .filter(pk=conversation_id, status=Status.AGENT, assignee=agent)
        .first()
    )
    if locked is None:
        raise Conflict("not yours")
    return locked


def _append_agent_message(
    conversation: Conversation, text: str, author: User | None, files: Sequence[int] = ()
) -> Message:
    message = Message.objects.create(
        conversation=conversation,
        seq=allocate_seq(conversation.pk),
        role=Message.Role.AGENT,
        text=text,
        status=Message.Status.RECEIVED,
        author=author,
    )
    # The agent's uploads for it (desk.services.upload_agent_file), before its event: the
    # webhook's payload lists them.
    link_attachments(message, files)
    events.message_created(message, conversation.organization_id)
    publish_message_stored(conversation.pk, message.pk)
    return message


def post_agent_message(
    conversation_id: int, agent: User, text: str, attachment_ids: Sequence[int] = ()
) -> Message:
    """The owner's message, with their uploads; Conflict unless `agent` owns the conversation."""
    with transaction.atomic(savepoint=False):
        conversation = lock_owned(conversation_id, agent)
        return _append_agent_message(conversation, text, agent, attachment_ids)


def post_integration_message(conversation_id: int, text: str) -> Message:
    """A message from an integration (no person behind it): only while the conversation waits
    for an agent, so an agent can always claim it next; Conflict otherwise (an agent owns it,
    it is resolved, or it is still with the bot: hand it off first)."""
    with transaction.atomic(savepoint=False):
        waiting = (
            Conversation.objects.select_for_update()
            .filter(pk=conversation_id, status=Status.WAITING)
            .first()
        )
        if waiting is None:
            raise Conflict("not waiting")
        return _append_agent_message(waiting, text, None)
