"""Desk writes: handoff, claim, agent messages, transfer, hand back, resolve, CSAT, notes.

Every move of a conversation between the bot, the queue and an agent is a transition of
`memory.conversations.states` (one conditional UPDATE each: when it changes no row, someone
else got there first and the caller gets Conflict); what a move means to the desk (the trip,
the audit row, events, webhooks, auto-assignment) is added here, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from accounts.access import NotFound
from core import outbox
from core.realtime import publish_to_conversation
from desk import events
from desk.assignment import assign_after_commit
from desk.handoff import audit, end_trip, start_trip, status_changed, take_conversation
from desk.models import AgentPresence, Csat, Note, OfflineMessage
from desk.selectors import access_conversation_for_agent
from desk.triggers import (
    customer_wants_human,
    is_open,
    not_helpful_streak,
    policy_and_recent_sentiments,
    policy_for,
    sentiment_trending_negative,
)
from memory.attachments.services import store_upload
from memory.attachments.tasks import read_attachment
from memory.conversations import states
from memory.conversations.models import Attachment, Conversation, Message
from memory.conversations.states import Conflict
from memory.knowledge.models import Lookup

Status = Conversation.Status
CSAT_CREATED = "csat.created"  # desk's one event kind (memory.conversations.events has the rest)
CSAT_CHANGED = "csat.changed"  # not a webhook: a score given again


def request_handoff(conversation_id: int, reason: str) -> bool:
    """Bot → waiting for an agent. False when the conversation was not with the bot."""
    with transaction.atomic():
        conversation = states.hand_off(conversation_id, reason)
        if conversation is None:
            return False
        start_trip(conversation, reason)
        status_changed(conversation_id, conversation.organization_id)
        assign_after_commit([conversation.organization_id])
    return True


def claim_conversation(agent: User, conversation_id: int) -> Conversation:
    """The agent takes the conversation (from the queue, or straight from the bot)."""
    conversation = access_conversation_for_agent(agent, conversation_id)
    with transaction.atomic():
        if not take_conversation(conversation, agent, agent, "claim"):
            raise Conflict("already taken")
    conversation.refresh_from_db()
    return conversation


def _owned(agent: User, conversation_id: int) -> Conversation:
    """The conversation, locked, if this agent owns it now; NotFound for a foreign one,
    Conflict for one the agent does not own. Call inside a transaction."""
    access_conversation_for_agent(agent, conversation_id)
    return states.lock_owned(conversation_id, agent)


def upload_agent_file(agent: User, conversation_id: int, data: bytes, name: str) -> Attachment:
    """A file for the owner's next reply: the customers' checks and storage
    (`memory.attachments.services.store_upload`; raises `checks.Refused`). NotFound for a
    foreign conversation, Conflict for one the agent does not own."""
    with transaction.atomic():
        conversation = _owned(agent, conversation_id)
        return store_upload(conversation, data, name, role=Message.Role.AGENT, author=agent)


def send_agent_message(
    agent: User,
    conversation_id: int,
    text: str,
    *,
    claim: bool = False,
    attachment_ids: Sequence[int] = (),
) -> Message:
    """The owner's message, with the files they uploaded for it (`upload_agent_file`). With
    `claim`, an agent first takes a conversation nobody owns yet (from the bot or the queue)
    exactly as a console claim does, in the same transaction."""
    conversation = access_conversation_for_agent(agent, conversation_id)
    with transaction.atomic():
        if claim:
            take_conversation(conversation, agent, agent, "claim", via="api")
        message = states.post_agent_message(
            conversation.pk, agent, text, attachment_ids=attachment_ids
        )
        audit(agent, conversation.organization_id, "message", conversation, message_id=message.pk)
        for attachment in message.attachments.filter(status=Attachment.Status.PENDING):
            read_attachment.delay_on_commit(attachment.pk)  # its text, for the console
    return message


def send_integration_message(conversation_id: int, text: str, api_key_id: int) -> Message:
    """A message from an API key, with no person behind it to own the conversation.

    A conversation still with the bot is handed off first (its reply in flight is cut, the
    trip opens, it joins the queue), so an agent can always claim it next; one waiting stays
    waiting. A conversation an agent owns, or a resolved one, is refused with Conflict.
    """
    with transaction.atomic():
        conversation = Conversation.objects.select_for_update().get(pk=conversation_id)
        if request_handoff(conversation.pk, "api_message"):
            audit(None, conversation.organization_id, "handoff", conversation, api_key=api_key_id)
        message = states.post_integration_message(conversation.pk, text)
        audit(
            None,
            conversation.organization_id,
            "message",
            conversation,
            message_id=message.pk,
            api_key=api_key_id,
        )
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
        states.transfer(conversation, agent, target)
        end_trip(conversation, agent=target)
        audit(agent, conversation.organization_id, "transfer", conversation, to=target.pk)
        status_changed(conversation.pk, conversation.organization_id)
        events.assigned(target.pk, conversation.pk)
        assign_after_commit([conversation.organization_id])  # the giver has room again
    conversation.refresh_from_db()
    return conversation


def hand_back_to_bot(agent: User, conversation_id: int) -> Conversation:
    with transaction.atomic():
        conversation = _owned(agent, conversation_id)
        states.hand_back(conversation, agent)
        end_trip(conversation, ended_at=timezone.now())
        audit(agent, conversation.organization_id, "hand_back", conversation)
        status_changed(conversation.pk, conversation.organization_id)
        assign_after_commit([conversation.organization_id])
    conversation.refresh_from_db()
    return conversation


def resolve_conversation(agent: User, conversation_id: int) -> Conversation:
    """Close it; the customer is asked for a CSAT score."""
    with transaction.atomic():
        conversation = _owned(agent, conversation_id)
        states.resolve(conversation, agent)
        end_trip(conversation, ended_at=timezone.now())
        audit(agent, conversation.organization_id, "resolve", conversation)
        status_changed(conversation.pk, conversation.organization_id)
        publish_to_conversation(conversation.pk, {"type": "csat.request"})
        assign_after_commit([conversation.organization_id])
    conversation.refresh_from_db()
    return conversation


def reopen_if_resolved(conversation_id: int) -> None:
    """A customer writing into a resolved conversation gets the bot again."""
    with transaction.atomic():
        if states.reopen(conversation_id):
            organization_id = (
                Conversation.objects.filter(pk=conversation_id)
                .values_list("organization_id", flat=True)
                .get()
            )
            status_changed(conversation_id, organization_id)


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
    conversation = access_conversation_for_agent(agent, conversation_id)
    with transaction.atomic():
        note = Note.objects.create(conversation=conversation, author=agent, text=text)
        audit(agent, conversation.organization_id, "note", conversation, note_id=note.pk)
        events.note_added(conversation.pk, note.pk)
    return note


def log_agent_action(agent: User, conversation_id: int, action: str, **detail: Any) -> None:
    """Audit an action that writes nothing else (asking for a draft, opening a conversation)."""
    conversation = access_conversation_for_agent(agent, conversation_id)
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
