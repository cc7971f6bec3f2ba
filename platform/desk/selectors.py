"""Desk reads, always scoped to the agent's organizations."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db.models import Count, Exists, F, Field, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from accounts.access import NotFound, org_ids_for_user
from desk.models import (
    AgentPresence,
    ConsoleSocket,
    Csat,
    Handoff,
    HandoffPolicy,
    Note,
    OfflineMessage,
)
from desk.triggers import is_open, policy_for
from memory.conversations.attachments import prefetched_attachments
from memory.conversations.frames import display_name
from memory.conversations.models import Attachment, Conversation, Message
from memory.longterm import selectors as longterm_selectors

Status = Conversation.Status


def access_conversation_for_agent(user: User, conversation_id: int) -> Conversation:
    """The conversation if it belongs to one of the user's organizations; NotFound otherwise."""
    conversation = (
        Conversation.objects.select_related("contact", "bot", "assignee")
        .filter(pk=conversation_id, organization_id__in=org_ids_for_user(user))
        .first()
    )
    if conversation is None:
        raise NotFound("conversation")
    return conversation


def conversations_awaiting_agent(user: User) -> QuerySet[Conversation]:
    return (
        Conversation.objects.filter(
            organization_id__in=org_ids_for_user(user), status=Status.WAITING
        )
        .select_related("contact", "bot")
        .order_by("updated_at", "pk")
    )


def live_console_sockets() -> QuerySet[ConsoleSocket]:
    """Sockets whose web process beat them recently; older rows belong to a dead process."""
    cutoff = timezone.now() - timedelta(seconds=ConsoleSocket.EXPIRES_S)
    return ConsoleSocket.objects.filter(seen_at__gte=cutoff)


def assignable_agents(organization_id: int) -> QuerySet[User, tuple[int, int, Any]]:
    """(user id, open conversations here, last assigned here) of the organization's members
    who are online with a live console: fewest open first, then assigned least recently."""
    open_here = (
        Conversation.objects.filter(
            organization_id=organization_id, status=Status.AGENT, assignee=OuterRef("pk")
        )
        .order_by()
        .values("assignee")
        .annotate(n=Count("pk"))
        .values("n")
    )
    last_assigned = (
        Handoff.objects.filter(
            agent=OuterRef("pk"),
            conversation__organization_id=organization_id,
            claimed_at__isnull=False,
        )
        .order_by("-claimed_at")
        .values("claimed_at")[:1]
    )
    return (
        User.objects.filter(
            is_active=True,
            memberships__organization_id=organization_id,
            presence__status=AgentPresence.Status.ONLINE,
        )
        .filter(Exists(live_console_sockets().filter(user=OuterRef("pk"))))
        .annotate(
            open_count=Coalesce(Subquery(open_here), Value(0)),
            last_assigned_at=Subquery(last_assigned),
        )
        .order_by("open_count", F("last_assigned_at").asc(nulls_first=True), "pk")
        .values_list("pk", "open_count", "last_assigned_at")
    )


def conversations_to_assign(organization_id: int) -> QuerySet[Conversation, tuple[int, int]]:
    """(conversation id, its bot's per-agent capacity) of the organization's waiting
    conversations whose bot auto-assigns, longest waiting first."""
    waiting_since = Handoff.objects.filter(
        conversation=OuterRef("pk"), ended_at__isnull=True
    ).values("requested_at")[:1]
    default_capacity = HandoffPolicy._meta.get_field("max_open_per_agent").get_default()
    return (
        Conversation.objects.filter(
            organization_id=organization_id, status=Status.WAITING, assignee__isnull=True
        )
        # A bot without a policy row has the defaults: auto-assignment on.
        .filter(Q(bot__handoff_policy__isnull=True) | Q(bot__handoff_policy__auto_assign=True))
        .annotate(
            waiting_since=Subquery(waiting_since),
            capacity=Coalesce("bot__handoff_policy__max_open_per_agent", Value(default_capacity)),
        )
        .order_by(F("waiting_since").asc(nulls_last=True), "pk")
        .values_list("pk", "capacity")
    )


def queue_position(conversation: Conversation) -> int:
    """1 = next in line, among the organization's waiting conversations."""
    trip = (
        Handoff.objects.filter(conversation=conversation, ended_at__isnull=True)
        .values_list("requested_at", flat=True)
        .first()
    )
    ahead = Handoff.objects.filter(
        conversation__organization_id=conversation.organization_id,
        conversation__status=Status.WAITING,
        ended_at__isnull=True,
    )
    if trip is not None:
        ahead = ahead.filter(requested_at__lt=trip)
    return ahead.count() + 1


def queue_snapshot(user: User) -> dict[str, Any]:
    """What the console's queue panel shows."""
    org_ids = org_ids_for_user(user)
    waiting = [
        {
            "id": c.pk,
            "contact": c.contact.name or c.contact.email or str(c.contact),
            "bot": c.bot.name,
            "reason": c.handoff_reason,
            "since": c.updated_at.isoformat(),
        }
        for c in conversations_awaiting_agent(user)[:100]
    ]
    mine = [
        {"id": c.pk, "contact": c.contact.name or str(c.contact), "bot": c.bot.name}
        for c in Conversation.objects.filter(
            organization_id__in=org_ids, status=Status.AGENT, assignee=user
        ).select_related("contact", "bot")[:100]
    ]
    online = [
        {"id": u.pk, "name": display_name(u)}
        for u in User.objects.filter(
            memberships__organization_id__in=org_ids,
            presence__status=AgentPresence.Status.ONLINE,
            is_active=True,
        )
        .distinct()
        .order_by("username")
    ]
    chosen = (
        AgentPresence.objects.filter(user=user).values_list("chosen", flat=True).first()
        or AgentPresence.Status.ONLINE
    )
    return {"waiting": waiting, "mine": mine, "online": online, "presence": chosen}


def access_attachment_for_agent(user: User, attachment_id: int) -> Attachment:
    """A file of a conversation of one of the user's organizations; NotFound otherwise."""
    attachment = Attachment.objects.filter(
        pk=attachment_id, conversation__organization_id__in=org_ids_for_user(user)
    ).first()
    if attachment is None:
        raise NotFound("attachment")
    return attachment


def console_attachment(attachment: Attachment) -> dict[str, Any]:
    return {
        "id": attachment.pk,
        "kind": attachment.kind,
        "name": attachment.name,
        "size": attachment.size,
        "status": attachment.status,
        "text": attachment.text,
        "url": reverse("desk:attachment", args=[attachment.pk]),
    }


def console_message(message: Message) -> dict[str, Any]:
    attachments = prefetched_attachments(message) or []
    return {
        "attachments": [console_attachment(a) for a in attachments],
        "id": message.pk,
        "seq": message.seq,
        "role": message.role,
        "text": message.text,
        "status": message.status,
        "author_name": display_name(message.author),
        "sources": message.sources or [],
        "topic": message.topic,
        "sentiment": message.sentiment,
        "cut": bool(message.error) and message.status == Message.Status.FINAL,
        "created_at": message.created_at.isoformat(),
    }


def note_payload(note: Note) -> dict[str, Any]:
    return {
        "id": note.pk,
        "text": note.text,
        "author_name": display_name(note.author),
        "created_at": note.created_at.isoformat(),
    }


# What `watch` re-sends of a conversation: enough for what can change between the page's
# render and its socket's subscription (or while the socket was down).
CATCH_UP_MESSAGES = 50


def latest_console_messages(conversation_id: int) -> list[dict[str, Any]]:
    """The conversation's newest messages as the console shows them, oldest first."""
    newest = (
        Message.objects.filter(conversation_id=conversation_id)
        .select_related("author")
        .prefetch_related("attachments")
        .order_by("-seq")[:CATCH_UP_MESSAGES]
    )
    return [console_message(m) for m in reversed(newest)]


def status_frame(conversation_id: int) -> dict[str, Any]:
    """The widget's `conversation.status` frame: where the customer stands now."""
    conversation = Conversation.objects.select_related("assignee").get(pk=conversation_id)
    frame: dict[str, Any] = {
        "type": "conversation.status",
        "status": conversation.status,
        "offline": not is_open(policy_for(conversation.bot_id)),
    }
    if conversation.status == Status.WAITING:
        frame["position"] = queue_position(conversation)
    if conversation.status == Status.AGENT:
        frame["agent_name"] = display_name(conversation.assignee)
    return frame


def latest_handoff_for(conversation_id: int | None) -> dict[str, Any]:
    handoff = (
        None
        if conversation_id is None
        else (
            Handoff.objects.filter(conversation_id=conversation_id)
            .order_by("-requested_at")
            .first()
        )
    )
    if handoff is None:
        return {"summary": "", "summary_status": "", "reason": ""}
    return {
        "summary": handoff.summary,
        "summary_status": handoff.summary_status,
        "reason": handoff.reason,
    }


def contact_profile(conversation: Conversation) -> dict[str, Any]:
    """The contact, what is remembered about them and their preferences (memory.longterm)."""
    contact = conversation.contact
    memories = [
        {"text": m.text, "origin": m.origin}
        for m in contact.memory_items.order_by("-updated_at")[:50]
    ]
    preferences = {p.name: p.value for p in contact.preferences.all()}
    return {
        "name": contact.name,
        "email": contact.email,
        "external_id": contact.external_id,
        "visitor": contact.visitor_id[:8],
        "since": contact.created_at.isoformat(),
        "conversations": contact.conversations.count(),
        "memories": memories,
        "preferences": preferences,
    }


def conversation_view(conversation: Conversation) -> dict[str, Any]:
    """Everything the console's conversation page starts from (then it follows the socket)."""
    messages = list(
        Message.objects.filter(conversation=conversation)
        .select_related("author")
        .prefetch_related("attachments")
        .order_by("seq")
    )
    trail = [
        {"seq": m.seq, "topic": m.topic, "sentiment": m.sentiment}
        for m in messages
        if m.role == Message.Role.USER and (m.topic or m.sentiment is not None)
    ]
    sources = [
        {"seq": m.seq, **source}
        for m in messages
        if m.role == Message.Role.BOT
        for source in (m.sources or [])
    ]
    notes = [
        note_payload(n)
        for n in Note.objects.filter(conversation=conversation).select_related("author")
    ]
    return {
        "id": conversation.pk,
        "status": conversation.status,
        "assignee": conversation.assignee_id,
        "assignee_name": display_name(conversation.assignee),
        "bot": conversation.bot.name,
        "handoff_reason": conversation.handoff_reason,
        "messages": [console_message(m) for m in messages],
        "notes": notes,
        "trail": trail,
        "sources": sources,
        "handoff": latest_handoff_for(conversation.pk),
        "contact": contact_profile(conversation),
    }


def note_for_frame(note_id: int) -> Note | None:
    """A note with its author, for the console's `note` frame; None once deleted."""
    return Note.objects.select_related("author").filter(pk=note_id).first()


# The customer's export. Desk sits above long-term memory, so it adds what it keeps that is
# the customer's own: what they wrote or gave, with these fields only. Never an agent's note,
# a handoff (and its summary), an audit event, a lookup or a webhook delivery: those are the
# organization's records about the customer.
CUSTOMER_ROWS: dict[type[Csat] | type[OfflineMessage], tuple[str, ...]] = {
    Csat: ("score", "comment", "created_at"),
    OfflineMessage: ("email", "text", "created_at"),
}


def export_contact(contact_id: int) -> dict[str, Any]:
    """Everything stored about this contact (memory.longterm's export), and under "other" the
    customer's own rows in desk (CUSTOMER_ROWS, keyed "desk.Csat" …); nothing of anyone else."""
    other: dict[str, list[dict[str, Any]]] = {}
    for model, fields in CUSTOMER_ROWS.items():
        rows = model._default_manager.filter(conversation__contact_id=contact_id).order_by("pk")
        columns = [model._meta.get_field(name) for name in fields]
        listed = [
            {f.name: f.value_to_string(row) for f in columns if isinstance(f, Field)}
            for row in rows
        ]
        if listed:
            other[model._meta.label] = listed
    return {**longterm_selectors.export_contact(contact_id), "other": other}
