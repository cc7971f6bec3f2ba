"""Forgetting and export: erasure leaves no row of the contact behind in any app's table, and
the export holds everything about the contact and nothing about anyone else."""

from __future__ import annotations

import json
import uuid

import pytest
from django.apps import apps
from django.db import models
from django.db.models.functions import Cast

from desk.selectors import export_contact
from memory.conversations.models import Contact, Conversation, Feedback, Message
from memory.conversations.services import record_feedback
from memory.embeddings import embed_texts
from memory.longterm import erasure, facts, preferences
from memory.longterm.models import ConversationSummary, MemoryItem, Origin, Preference
from tests.conftest import make_bot

from .factories import reply, resolve, say, visitor_conversation

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def stored_contact(bot: object, canary: str) -> Contact:
    """A contact with a fact, a learned and an explicit preference, a summary, messages and
    feedback, every text carrying `canary`."""
    conversation = visitor_conversation(bot)  # type: ignore[arg-type]
    said = say(conversation, f"My name is {canary}. I'm on the Premium plan, my card is stuck.")
    answer = reply(conversation, said, f"Sorry {canary}, I have unblocked your card.")
    record_feedback(conversation.contact, answer.pk, "helpful", f"thanks from {canary}")
    facts.remember_from_message(said.pk)
    facts.remember_fact(conversation.contact, "city", canary, origin=Origin.MODEL, source=said)
    preferences.set_preferences(conversation.contact, {"tone": "brief", "channel": "email"})
    resolve(conversation)
    # Written directly (the model's summaries are tested in test_recall): this test is about
    # which rows exist, and a model call per contact would only make it slow.
    ConversationSummary.objects.create(
        conversation=conversation,
        contact=conversation.contact,
        text=f"The customer {canary} had a stuck card; the bot unblocked it.",
        through_seq=conversation.last_seq,
        embedding=embed_texts([f"stuck card of {canary}"])[0],
    )
    return conversation.contact


def rows_of(contact: Contact, canary: str) -> list[str]:
    """Every row in every installed model that references the contact (or its conversations
    and messages) or contains the canary text."""
    conversation_ids = set(
        Conversation.objects.filter(contact=contact).values_list("pk", flat=True)
    )
    message_ids = set(
        Message.objects.filter(conversation__contact=contact).values_list("pk", flat=True)
    )
    owned = {Contact: {contact.pk}, Conversation: conversation_ids, Message: message_ids}
    found = []
    for model in apps.get_models():
        manager = model._default_manager
        for field in model._meta.concrete_fields:
            if isinstance(field, models.ForeignKey) and field.related_model in owned:
                ids = owned[field.related_model]  # type: ignore[index]
                if ids and manager.filter(**{f"{field.name}__in": ids}).exists():
                    found.append(f"{model._meta.label}.{field.name}")
            elif isinstance(field, models.CharField | models.TextField | models.JSONField):
                as_text = manager.annotate(_text=Cast(field.name, models.TextField()))
                if as_text.filter(_text__icontains=canary).exists():
                    found.append(f"{model._meta.label}.{field.name} has the canary")
        if model is Contact and manager.filter(pk=contact.pk).exists():
            found.append("memory.Contact row")
    return found


def test_erasing_everything_leaves_no_row_of_the_contact_in_any_table() -> None:
    bot = make_bot()
    erased = stored_contact(bot, "Kestrelwyn")
    kept = stored_contact(bot, "Pelicanor")
    assert rows_of(erased, "Kestrelwyn"), "the scan must see the contact before erasure"

    erasure.forget_everything(erased, messages=True)

    assert rows_of(erased, "Kestrelwyn") == []
    # The other customer of the same bot keeps everything.
    assert MemoryItem.objects.filter(contact=kept).count() == 2
    assert Preference.objects.filter(contact=kept).count() == 3
    assert ConversationSummary.objects.filter(contact=kept).count() == 1
    assert Feedback.objects.filter(contact=kept).count() == 1
    assert Message.objects.filter(conversation__contact=kept).count() == 2


def test_forgetting_memory_keeps_the_chat_but_no_fact_summary_or_preference() -> None:
    bot = make_bot()
    contact = stored_contact(bot, "Kestrelwyn")
    erasure.forget_everything(contact, messages=False)
    assert not MemoryItem.objects.filter(contact=contact).exists()
    assert not Preference.objects.filter(contact=contact).exists()
    assert not ConversationSummary.objects.filter(contact=contact).exists()
    assert Message.objects.filter(conversation__contact=contact).count() == 2


def test_forgetting_one_item_needs_it_to_be_the_contacts_own() -> None:
    bot = make_bot()
    mine = stored_contact(bot, "Kestrelwyn")
    theirs = stored_contact(bot, "Pelicanor")
    their_item = MemoryItem.objects.filter(contact=theirs).first()
    assert their_item is not None
    assert erasure.forget_item(mine, their_item.pk) is False
    assert MemoryItem.objects.filter(pk=their_item.pk).exists()
    my_item = MemoryItem.objects.get(contact=mine, key="plan")
    assert erasure.forget_item(mine, my_item.pk) is True
    assert list(MemoryItem.objects.filter(contact=mine).values_list("key", flat=True)) == ["city"]


def test_the_export_holds_everything_of_the_contact_and_nothing_of_another() -> None:
    bot = make_bot()
    contact = stored_contact(bot, "Kestrelwyn")
    other = stored_contact(bot, "Pelicanor")

    data = export_contact(contact.pk)
    text = json.dumps(data)
    assert "Pelicanor" not in text and other.visitor_id not in text
    for item in MemoryItem.objects.filter(contact=contact):
        assert item.text in text
    for summary in ConversationSummary.objects.filter(contact=contact):
        assert summary.text in text
    assert data["preferences"] == {
        "channel": {"value": "email", "origin": "explicit"},
        "name": {"value": "Kestrelwyn", "origin": "rule"},
        "tone": {"value": "brief", "origin": "explicit"},
    }
    messages = [m["text"] for c in data["conversations"] for m in c["messages"]]
    assert messages == list(
        Message.objects.filter(conversation__contact=contact)
        .order_by("seq")
        .values_list("text", flat=True)
    )
    assert [f["comment"] for f in data["feedback"]] == ["thanks from Kestrelwyn"]
    # The visitor id is the anonymous visitor's credential: an export (which an API key can
    # read) never carries it. (It used to; issue #11.)
    assert contact.visitor_id not in text and "visitor_id" not in data["contact"]


def test_the_export_includes_what_other_apps_hold_about_the_contact() -> None:
    from desk.services import record_csat, record_offline_message

    bot = make_bot()
    contact = stored_contact(bot, "Kestrelwyn")
    other = stored_contact(bot, "Pelicanor")
    for who, canary in ((contact, "Kestrelwyn"), (other, "Pelicanor")):
        conversation = Conversation.objects.get(contact=who)
        record_csat(conversation.pk, 4, f"quick help, {canary}")
        record_offline_message(conversation.pk, f"{canary.lower()}@example.com", "call me")

    other_apps = export_contact(contact.pk)["other"]
    text = json.dumps(other_apps)
    assert "quick help, Kestrelwyn" in text and "kestrelwyn@example.com" in text
    assert "Pelicanor" not in text and "pelicanor" not in text


def busy_contact(bot: object, canary: str) -> Contact:
    """`stored_contact`, then a second chat that went to a person: a handoff (its summary
    quotes the customer), an agent's note, CSAT and an offline message, all carrying canary."""
    from desk.services import (
        add_note,
        ask_for_human,
        claim_conversation,
        record_csat,
        record_offline_message,
        resolve_conversation,
    )
    from tests.desk.factories import make_agent

    contact = stored_contact(bot, canary)
    again = visitor_conversation(bot, contact.visitor_id)  # type: ignore[arg-type]
    say(again, f"{canary} here again, my card is still stuck, I want a person")
    assert ask_for_human(again.pk)
    agent = make_agent(again.organization)
    claim_conversation(agent, again.pk)
    add_note(agent, again.pk, f"internal: {canary} sounds like fraud, check the card")
    resolve_conversation(agent, again.pk)
    record_csat(again.pk, 2, f"slow, says {canary}")
    record_offline_message(again.pk, "someone@example.com", f"call {canary} back")
    return contact


def test_the_export_never_holds_notes_handoff_summaries_or_audit_events() -> None:
    """Attack 2 of issue #11: an agent's internal note appeared in the customer's export."""
    from desk.models import AuditEvent, Handoff, Note

    bot = make_bot()
    contact = busy_contact(bot, "Kestrelwyn")
    note = Note.objects.get(conversation__contact=contact)
    handoff = Handoff.objects.get(conversation__contact=contact)
    assert handoff.summary and AuditEvent.objects.filter(conversation__contact=contact).exists()

    data = export_contact(contact.pk)
    text = json.dumps(data)
    assert note.text not in text and "sounds like fraud" not in text
    assert handoff.summary not in text
    assert sorted(data["other"]) == ["desk.Csat", "desk.OfflineMessage"]
    assert data["other"]["desk.Csat"][0]["comment"] == "slow, says Kestrelwyn"
    assert data["other"]["desk.OfflineMessage"][0]["text"] == "call Kestrelwyn back"
    for forbidden in ("handoff", "note", "audit", "agent", "reason", "summary_status"):
        assert forbidden not in json.dumps(data["other"]).lower(), forbidden


def columns_holding(canary: str) -> list[str]:
    """Every text, varchar, json and jsonb column of every table in the database (from
    information_schema, not the models) that holds `canary`."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT table_schema, table_name, column_name FROM information_schema.columns
               WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
                 AND data_type IN ('text', 'character varying', 'character', 'json', 'jsonb')
                 AND table_name IN (SELECT table_name FROM information_schema.tables
                                    WHERE table_type = 'BASE TABLE')"""
        )
        columns = cursor.fetchall()
        found = []
        for schema, table, column in columns:
            # Names come from information_schema, quoted; the canary is a parameter.
            query = f'SELECT 1 FROM "{schema}"."{table}" WHERE "{column}"::text ILIKE %s LIMIT 1'  # noqa: S608
            cursor.execute(query, [f"%{canary}%"])
            if cursor.fetchone():
                found.append(f"{table}.{column}")
    assert len(columns) > 50, "the scan must see the whole database"
    return found


@pytest.mark.django_db(transaction=True)  # webhooks and their redaction follow commits
def test_erasure_leaves_the_customers_words_in_no_column_of_the_database() -> None:
    """Attack 3 of issue #11: after erasure the words were still in webhook payloads."""
    from api.models import WebhookDelivery, WebhookEndpoint, WebhookEvent

    bot = make_bot()
    WebhookEndpoint.objects.create(
        organization=bot.organization,  # type: ignore[attr-defined]
        url="https://hooks.example/in",
        events=[event.value for event in WebhookEvent],
    )
    canary = f"Canary{uuid.uuid4().hex[:10]}"
    erased = busy_contact(bot, canary)
    kept = busy_contact(bot, "Pelicanor")
    before = columns_holding(canary)
    assert "api_webhookdelivery.payload" in before and "desk_note.text" in before, before
    assert "desk_handoff.summary" in before and "memory_message.text" in before, before

    erasure.forget_everything(erased, messages=True)

    assert columns_holding(canary) == []
    # The other customer's deliveries and rows are untouched.
    assert "api_webhookdelivery.payload" in columns_holding("Pelicanor")
    assert Message.objects.filter(conversation__contact=kept).count() == 3
    redacted = WebhookDelivery.objects.filter(payload__data__erased=True)
    assert redacted.exists() and all(set(d.payload) >= {"id", "event"} for d in redacted)
