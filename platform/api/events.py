"""The webhook events and where they are raised.

Raised from model signals, so the apps that own the writes need no import of ours:
conversation.created / .resolved and handoff.requested (status → waiting) from Conversation
saves, message.created from user / agent messages (bot replies: `bot_reply_finished`, called
by bots.services when a reply is final), feedback.created, csat.created (desk.Csat).
A write done with `QuerySet.update()` sends no signal: such code must call the `*_event`
function below itself.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.db.models import Model
from django.db.models.signals import post_save, pre_save

from memory.conversations.models import Conversation, Feedback, Message

from .webhooks import emit


def conversation_data(conversation: Conversation) -> dict[str, Any]:
    return {
        "conversation_id": conversation.pk,
        "bot_id": conversation.bot_id,
        "contact_id": conversation.contact_id,
        "status": conversation.status,
        "handoff_reason": conversation.handoff_reason,
        "assignee_id": conversation.assignee_id,
    }


def message_data(message: Message) -> dict[str, Any]:
    return {
        "message_id": message.pk,
        "conversation_id": message.conversation_id,
        "seq": message.seq,
        "role": message.role,
        "status": message.status,
        "text": message.text,
        "created_at": message.created_at,
    }


def message_created_event(message: Message) -> None:
    cached = message._state.fields_cache.get("conversation")
    org_id = (
        cached.organization_id
        if cached is not None
        else Conversation.objects.values_list("organization_id", flat=True).get(
            pk=message.conversation_id
        )
    )
    emit(org_id, "message.created", message_data(message))


def bot_reply_finished(message_id: int) -> None:
    """Call in the transaction that makes a bot reply final (or failed)."""
    message_created_event(Message.objects.get(pk=message_id))


def handoff_requested_event(conversation: Conversation) -> None:
    emit(conversation.organization_id, "handoff.requested", conversation_data(conversation))


def conversation_resolved_event(conversation: Conversation) -> None:
    emit(conversation.organization_id, "conversation.resolved", conversation_data(conversation))


def csat_created_event(organization_id: int, data: dict[str, Any]) -> None:
    emit(organization_id, "csat.created", data)


def _remember_status(sender: type[Model], instance: Conversation, **kwargs: Any) -> None:
    if instance.pk is None:
        instance._previous_status = None
        return
    update_fields = kwargs.get("update_fields")
    if update_fields is not None and "status" not in update_fields:
        instance._previous_status = instance.status  # type: ignore[attr-defined]
        return
    instance._previous_status = (  # type: ignore[attr-defined]
        Conversation.objects.filter(pk=instance.pk).values_list("status", flat=True).first()
    )


def _conversation_saved(
    sender: type[Model], instance: Conversation, created: bool, **kwargs: Any
) -> None:
    if created:
        emit(instance.organization_id, "conversation.created", conversation_data(instance))
        return
    previous = getattr(instance, "_previous_status", instance.status)
    if previous == instance.status:
        return
    if instance.status == Conversation.Status.WAITING:
        handoff_requested_event(instance)
    elif instance.status == Conversation.Status.RESOLVED:
        conversation_resolved_event(instance)


def _message_saved(sender: type[Model], instance: Message, created: bool, **kwargs: Any) -> None:
    customer_or_agent = created and instance.role in (Message.Role.USER, Message.Role.AGENT)
    # A reply that failed is saved (not updated): the customer sees its fallback line.
    reply_failed = (
        not created
        and instance.role == Message.Role.BOT
        and instance.status == Message.Status.FAILED
        and "status" in (kwargs.get("update_fields") or ())
    )
    if customer_or_agent or reply_failed:
        message_created_event(instance)


def _feedback_saved(sender: type[Model], instance: Feedback, created: bool, **kwargs: Any) -> None:
    if not created:
        return
    conversation = Conversation.objects.only("organization_id", "pk").get(
        messages=instance.message_id
    )
    emit(
        conversation.organization_id,
        "feedback.created",
        {
            "feedback_id": instance.pk,
            "message_id": instance.message_id,
            "conversation_id": conversation.pk,
            "rating": instance.rating,
            "comment": instance.comment,
        },
    )


def _csat_saved(sender: type[Model], instance: Any, created: bool, **kwargs: Any) -> None:
    if not created:
        return
    conversation = Conversation.objects.get(pk=instance.conversation_id)
    csat_created_event(
        conversation.organization_id,
        {
            "csat_id": instance.pk,
            "conversation_id": conversation.pk,
            "score": instance.score,
            "comment": getattr(instance, "comment", ""),
            "agent_id": getattr(instance, "agent_id", None),
        },
    )


def connect() -> None:
    pre_save.connect(_remember_status, sender=Conversation, dispatch_uid="api.conv.pre")
    post_save.connect(_conversation_saved, sender=Conversation, dispatch_uid="api.conv")
    post_save.connect(_message_saved, sender=Message, dispatch_uid="api.message")
    post_save.connect(_feedback_saved, sender=Feedback, dispatch_uid="api.feedback")
    try:
        csat = apps.get_model("desk", "Csat")
    except LookupError:
        return
    post_save.connect(_csat_saved, sender=csat, dispatch_uid="api.csat")
