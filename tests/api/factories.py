"""Data for API tests: an organization with a bot, a conversation, messages and feedback."""

from __future__ import annotations

from dataclasses import dataclass

from accounts.models import Organization
from api.keys import create_api_key
from bots.models import Bot, WidgetKey
from memory.conversations.models import Contact, Conversation, Feedback, Message
from tests.conftest import make_bot, make_org, make_widget_key, new_visitor_id


@dataclass
class Tenant:
    org: Organization
    bot: Bot
    widget_key: WidgetKey
    contact: Contact
    conversation: Conversation
    question: Message
    answer: Message
    feedback: Feedback
    read_key: str
    write_key: str


def make_tenant() -> Tenant:
    org = make_org()
    bot = make_bot(org)
    widget_key = make_widget_key(bot)
    contact = Contact.objects.create(organization=org, visitor_id=new_visitor_id())
    conversation = Conversation.objects.create(organization=org, bot=bot, contact=contact)
    question = Message.objects.create(
        conversation=conversation, seq=1, role="user", text="Where is my card?", status="received"
    )
    answer = Message.objects.create(
        conversation=conversation,
        seq=2,
        role="bot",
        text="It is on its way.",
        status="final",
        reply_to=question,
    )
    Conversation.objects.filter(pk=conversation.pk).update(last_seq=2)
    feedback = Feedback.objects.create(message=answer, contact=contact, rating="helpful")
    _, read_key = create_api_key(org.pk, "reader", "read")
    _, write_key = create_api_key(org.pk, "writer", "write")
    return Tenant(
        org, bot, widget_key, contact, conversation, question, answer, feedback, read_key, write_key
    )


def bearer(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}
