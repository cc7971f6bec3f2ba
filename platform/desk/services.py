"""Desk writes: handoff, claim, agent messages, transfer, hand back, resolve, CSAT, notes.

Ownership is decided by Postgres, never by a Python check: every move of a conversation
between the bot, the queue and an agent is one conditional `UPDATE … WHERE status=… AND
assignee …`; when it changes no row, someone else got there first and the caller is told.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from accounts.access import NotFound, org_ids_for_user
from core import outbox
from core.realtime import publish_message_stored, publish_to_conversation
from desk import events
from desk.models import AgentPresence, AuditEvent, Csat, Handoff, Note, OfflineMessage
from desk.summary import handoff_summary
from desk.triggers import (
    customer_wants_human,
    is_open,
    not_helpful_streak,
    policy_and_recent_sentiments,
    policy_for,
    sentiment_trending_negative,
)
from memory.conversations import events as conversation_events
from memory.conversations.models import Conversation, Message
from memory.conversations.services import allocate_seq
from memory.knowledge.models import Lookup

log = logging.getLogger(__name__)

Status = Conversation.Status
CSAT_CREATED = "csat.created"  # desk's one event kind (memory.conversations.events has the rest)
CSAT_CHANGED = "csat.changed"  # not a webhook: a score given again
CUT_NOTE = "stopped: an agent took over"


class Conflict(Exception):
    """The conversation is not in a state that allows this (someone else owns it, …)."""


def audit(
    actor: User | None,
    organization_id: int,
    action: str,
    conversation: Conversation | None = None,
    **detail: Any,
) -> None:
    AuditEvent.objects.create(
        organization_id=organization_id,
        actor=actor,
        action=action,
        conversation=conversation,
        detail=detail,
    )


def _status_changed(conversation_id: int, organization_id: int) -> None:
    publish_to_conversation(conversation_id, {"type": "conversation.status"})
    events.queue_changed(organization_id)


def _queue_moved(organization_id: int, except_id: int) -> None:
    """Someone left the queue: every waiting customer of the organization gets a new position."""
    waiting = Conversation.objects.filter(
        organization_id=organization_id, status=Status.WAITING
    ).exclude(pk=except_id)
    for conversation_id in waiting.values_list("pk", flat=True)[:500]:
        publish_to_conversation(conversation_id, {"type": "conversation.status"})


def _cut_streaming_replies(conversation_id: int) -> None:
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
        conversation_events.message_created(message)
        publish_message_stored(conversation_id, message.pk)


def _start_trip(conversation: Conversation, reason: str, **fields: Any) -> Handoff:
    """Open the trip with its summary (desk.summary) in one INSERT, in the caller's transaction:
    the summary is written once, and the agent has it as soon as the trip exists."""
    up_to_seq = conversation.last_seq
    try:
        # A savepoint: a summary that fails to build leaves the handoff's transaction usable.
        with transaction.atomic():
            summary = handoff_summary(conversation.pk, reason, up_to_seq)
    except Exception:
        # The handoff goes ahead without it, and the trip says its summary failed.
        log.exception("the handoff summary of conversation %s failed", conversation.pk)
        summary, status = "", Handoff.SummaryStatus.FAILED
    else:
        status = Handoff.SummaryStatus.DONE
    handoff = Handoff.objects.create(
        conversation=conversation,
        reason=reason,
        up_to_seq=up_to_seq,
        summary=summary,
        summary_status=status,
        **fields,
    )
    events.summary_ready(conversation.pk)
    return handoff


def _assign_after_commit(organization_id: int) -> None:
    """Someone started waiting or an agent has room again: auto-assign once this commits."""
    from desk.assignment import assign_after_commit

    assign_after_commit([organization_id])


def request_handoff(conversation_id: int, reason: str) -> bool:
    """Bot → waiting for an agent. False when the conversation was not with the bot."""
    with transaction.atomic():
        moved = Conversation.objects.filter(pk=conversation_id, status=Status.BOT).update(
            status=Status.WAITING, assignee=None, handoff_reason=reason, updated_at=timezone.now()
        )
        if not moved:
            return False
        conversation = Conversation.objects.get(pk=conversation_id)
        _cut_streaming_replies(conversation_id)
        _start_trip(conversation, reason)
        _status_changed(conversation_id, conversation.organization_id)
        conversation_events.handoff_requested(conversation)
        _assign_after_commit(conversation.organization_id)
    return True


def _agent_conversation(agent: User, conversation_id: int) -> Conversation:
    conversation = Conversation.objects.filter(
        pk=conversation_id, organization_id__in=org_ids_for_user(agent)
    ).first()
    if conversation is None:
        raise NotFound("conversation")
    return conversation


def take_conversation(
    conversation: Conversation, agent: User, actor: User | None, action: str, **detail: Any
) -> bool:
    """Give the conversation an owner, inside the caller's transaction; False when someone
    else got there first. Every claim and auto-assignment goes through this one UPDATE: it
    only matches while nobody is assigned, so exactly one of them wins.
    """
    won = Conversation.objects.filter(
        pk=conversation.pk,
        status__in=[Status.BOT, Status.WAITING],
        assignee__isnull=True,
    ).update(status=Status.AGENT, assignee=agent, updated_at=timezone.now())
    if not won:
        return False
    conversation_events.conversation_moved(conversation, Status.AGENT)
    _cut_streaming_replies(conversation.pk)
    now = timezone.now()
    open_trip = Handoff.objects.filter(conversation=conversation, ended_at__isnull=True)
    if not open_trip.update(claimed_at=now, agent=agent):
        _start_trip(conversation, "agent_takeover", claimed_at=now, agent=agent)
    audit(actor, conversation.organization_id, action, conversation, **detail)
    _status_changed(conversation.pk, conversation.organization_id)
    if conversation.status == Status.WAITING:
        _queue_moved(conversation.organization_id, conversation.pk)
    return True


def claim_conversation(agent: User, conversation_id: int) -> Conversation:
    """The agent takes the conversation (from the queue, or straight from the bot)."""
    conversation = _agent_conversation(agent, conversation_id)
    with transaction.atomic():
        if not take_conversation(conversation, agent, agent, "claim"):
            raise Conflict("already taken")
    conversation.refresh_from_db()
    return conversation


def _owned(agent: User, conversation_id: int) -> Conversation:
    """The conversation, locked, if this agent owns it now; Conflict otherwise."""
    conversation = _agent_conversation(agent, conversation_id)
    locked = (
        Conversation.objects.select_for_update()
        .filter(pk=conversation.pk, status=Status.AGENT, assignee=agent)
        .first()
    )
    if locked is None:
        raise Conflict("not yours")
    return locked


def send_agent_message(
    agent: User, conversation_id: int, text: str, *, claim: bool = False
) -> Message:
    """The owner's message. With `claim`, an agent first takes a conversation nobody owns yet
    (from the bot or the queue) exactly as a console claim does, in the same transaction."""
    with transaction.atomic():
        if claim:
            take_conversation(
                _agent_conversation(agent, conversation_id), agent, agent, "claim", via="api"
            )
        conversation = _owned(agent, conversation_id)
        message = _append_agent_message(conversation, text, author=agent)
        audit(agent, conversation.organization_id, "message", conversation, message_id=message.pk)
        publish_message_stored(conversation.pk, message.pk)
    return message


def _append_agent_message(conversation: Conversation, text: str, author: User | None) -> Message:
    """Call inside a transaction (the seq's row lock, the event with its message)."""
    message = Message.objects.create(
        conversation=conversation,
        seq=allocate_seq(conversation.pk),
        role=Message.Role.AGENT,
        text=text,
        status=Message.Status.RECEIVED,
        author=author,
    )
    conversation_events.message_created(message, conversation.organization_id)
    return message


def send_integration_message(conversation_id: int, text: str, api_key_id: int) -> Message:
    """A message from an API key, with no person behind it to own the conversation.

    A conversation still with the bot is handed off first (its reply in flight is cut, the
    trip opens, it joins the queue), so an agent can always claim it next; one waiting stays
    waiting. A conversation an agent owns, or a resolved one, is refused with Conflict.
    """
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
        if conversation.status == Status.BOT:
            request_handoff(conversation.pk, "api_message")
            audit(None, conversation.organization_id, "handoff", conversation, api_key=api_key_id)
        elif conversation.status != Status.WAITING:
            raise Conflict("not yours")
        message = _append_agent_message(conversation, text, author=None)
        audit(
            None,
            conversation.organization_id,
            "message",
            conversation,
            message_id=message.pk,
            api_key=api_key_id,
        )
        publish_message_stored(conversation.pk, message.pk)
    return message


def transfer_conversation(agent: User, conversation_id: int, to_user_id: int) -> Conversation:
    """Give an owned conversation to another online agent of the same organization."""
    with transaction.atomic():
        conversation = _owned(agent, conversation_id)
        target = (
            User.objects.filter(
                pk=to_user_id,
                is_active=True,
                memberships__organization_id=conversation.organization_id,
                presence__status=AgentPresence.Status.ONLINE,
            )
            .exclude(pk=agent.pk)
            .first()
        )
        if target is None:
            raise NotFound("agent")
        Conversation.objects.filter(pk=conversation.pk, status=Status.AGENT, assignee=agent).update(
            assignee=target, updated_at=timezone.now()
        )
        Handoff.objects.filter(conversation=conversation, ended_at__isnull=True).update(
            agent=target
        )
        audit(agent, conversation.organization_id, "transfer", conversation, to=target.pk)
        _status_changed(conversation.pk, conversation.organization_id)
        events.assigned(target.pk, conversation.pk)
        _assign_after_commit(conversation.organization_id)  # the giver has room again
    conversation.refresh_from_db()
    return conversation


def hand_back_to_bot(agent: User, conversation_id: int) -> Conversation:
    with transaction.atomic():
        conversation = _owned(agent, conversation_id)
        Conversation.objects.filter(pk=conversation.pk, status=Status.AGENT, assignee=agent).update(
            status=Status.BOT, assignee=None, updated_at=timezone.now()
        )
        Handoff.objects.filter(conversation=conversation, ended_at__isnull=True).update(
            ended_at=timezone.now()
        )
        conversation_events.conversation_moved(conversation, Status.BOT)
        audit(agent, conversation.organization_id, "hand_back", conversation)
        _status_changed(conversation.pk, conversation.organization_id)
        _assign_after_commit(conversation.organization_id)
    conversation.refresh_from_db()
    return conversation


def resolve_conversation(agent: User, conversation_id: int) -> Conversation:
    """Close it; the customer is asked for a CSAT score."""
    with transaction.atomic():
        conversation = _owned(agent, conversation_id)
        now = timezone.now()
        Conversation.objects.filter(pk=conversation.pk, status=Status.AGENT, assignee=agent).update(
            status=Status.RESOLVED, resolved_at=now, updated_at=now
        )
        Handoff.objects.filter(conversation=conversation, ended_at__isnull=True).update(
            ended_at=now
        )
        audit(agent, conversation.organization_id, "resolve", conversation)
        _status_changed(conversation.pk, conversation.organization_id)
        publish_to_conversation(conversation.pk, {"type": "csat.request"})
        conversation_events.conversation_resolved(Conversation.objects.get(pk=conversation.pk))
        _assign_after_commit(conversation.organization_id)
    conversation.refresh_from_db()
    return conversation


def reopen_if_resolved(conversation_id: int) -> None:
    """A customer writing into a resolved conversation gets the bot again."""
    with transaction.atomic():
        conversation = Conversation.objects.filter(pk=conversation_id).first()
        reopened = Conversation.objects.filter(pk=conversation_id, status=Status.RESOLVED).update(
            status=Status.BOT, assignee=None, resolved_at=None, updated_at=timezone.now()
        )
        if reopened and conversation is not None:
            conversation_events.conversation_moved(
                conversation, Status.BOT, conversation.resolved_at
            )
            _status_changed(conversation_id, conversation.organization_id)


def record_csat(conversation_id: int, score: int, comment: str = "") -> Csat:
    conversation = Conversation.objects.filter(pk=conversation_id, status=Status.RESOLVED).first()
    if conversation is None:
        raise Conflict("not resolved")
    with transaction.atomic():
        csat, created = Csat.objects.update_or_create(
            conversation=conversation,
            defaults={"score": score, "comment": comment, "agent_id": conversation.assignee_id},
        )
        outbox.record(
            CSAT_CREATED if created else CSAT_CHANGED,
            conversation.organization_id,
            {
                "csat_id": csat.pk,
                "conversation_id": conversation.pk,
                "score": csat.score,
                "comment": csat.comment,
                "agent_id": csat.agent_id,
            },
            conversation_id=conversation.pk,
        )
    return csat


def record_offline_message(conversation_id: int, email: str, text: str) -> OfflineMessage:
    conversation = Conversation.objects.get(pk=conversation_id)
    message = OfflineMessage.objects.create(conversation=conversation, email=email, text=text)
    events.queue_changed(conversation.organization_id)
    return message


def add_note(agent: User, conversation_id: int, text: str) -> Note:
    conversation = _agent_conversation(agent, conversation_id)
    with transaction.atomic():
        note = Note.objects.create(conversation=conversation, author=agent, text=text)
        audit(agent, conversation.organization_id, "note", conversation, note_id=note.pk)
        events.note_added(conversation.pk, note.pk)
    return note


def log_agent_action(agent: User, conversation_id: int, action: str, **detail: Any) -> None:
    """Audit an action that writes nothing else (asking for a draft, opening a conversation)."""
    conversation = _agent_conversation(agent, conversation_id)
    audit(agent, conversation.organization_id, action, conversation, **detail)


__all__ = [
    "Conflict",
    "NotFound",
    "add_note",
    "claim_conversation",
    "hand_back_to_bot",
    "log_agent_action",
    "record_csat",
    "record_offline_message",
    "reopen_if_resolved",
    "request_handoff",
    "resolve_conversation",
    "send_agent_message",
    "send_integration_message",
    "take_conversation",
    "transfer_conversation",
]


def ask_for_human(conversation_id: int, reason: str = "customer_asked") -> bool:
    """The customer asked for a human; False when outside business hours (offline)."""

    conversation = Conversation.objects.get(pk=conversation_id)
    if not is_open(policy_for(conversation.bot_id)):
        return False
    request_handoff(conversation_id, reason)
    return True


_YES = {"yes", "yes please", "ok", "okay", "sure", "please", "yes, please", "y"}


def hand_off_after_customer_message(conversation: Conversation, message: Message) -> bool:
    """Apply the bot's policy to a new customer message; True when it went to the queue.

    `conversation` is the row as the caller read it while holding its lock (current).
    """

    if conversation.status != Status.BOT:
        return False
    policy, sentiments = policy_and_recent_sentiments(conversation)
    reason = ""
    if policy.on_request and customer_wants_human(message.text):
        reason = "customer_asked"
    elif policy.on_bot_offer and message.text.strip().lower().rstrip("!.") in _YES:
        previous = (
            Message.objects.filter(conversation=conversation, seq__lt=message.seq)
            .exclude(role=Message.Role.SYSTEM)
            .order_by("-seq")
            .first()
        )
        if _offered_a_person(previous):
            reason = "bot_offer"
    elif policy.on_negative_sentiment and sentiment_trending_negative(policy, sentiments):
        reason = "negative_sentiment"
    if not reason or not is_open(policy):
        return False
    return request_handoff(conversation.pk, reason)


def hand_off_after_feedback(conversation_id: int) -> bool:

    conversation = Conversation.objects.get(pk=conversation_id)
    policy = policy_for(conversation.bot_id)
    if not policy.not_helpful_streak or not is_open(policy):
        return False
    if not_helpful_streak(conversation) < policy.not_helpful_streak:
        return False
    return request_handoff(conversation_id, "not_helpful")


def _offered_a_person(bot_message: Message | None) -> bool:
    """The bot's message offered a human: a failed reply, or 'I don't know, shall I get a
    person?' when the knowledge base had nothing relevant."""

    if bot_message is None or bot_message.role != Message.Role.BOT:
        return False
    if bot_message.status == Message.Status.FAILED:
        return True
    if bot_message.reply_to_id is None:
        return False
    return Lookup.objects.filter(
        message_id=bot_message.reply_to_id, outcome=Lookup.Outcome.NO_KNOWLEDGE
    ).exists()


def hand_off_after_reply(user_message_id: int) -> bool:
    """After the bot answered: hand off when the policy says 'no relevant knowledge' does."""

    conversation = Conversation.objects.filter(messages__pk=user_message_id).first()
    if conversation is None or conversation.status != Status.BOT:
        return False
    policy = policy_for(conversation.bot_id)
    if not policy.on_no_knowledge or not is_open(policy):
        return False
    if not Lookup.objects.filter(
        message_id=user_message_id, outcome=Lookup.Outcome.NO_KNOWLEDGE
    ).exists():
        return False
    return request_handoff(conversation.pk, "no_knowledge")
