"""Identity and "What we remember" over the real widget socket, with the real workers:
signed identity joins the anonymous chat, an unsigned claim never unlocks memory, customers
list / delete / export what is stored, preferences reach the prompt, and the rules and the
model (SmolLM2, grammar-constrained JSON) remember through the workers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone
from websockets.exceptions import ConnectionClosed

from bots.context import gather_context
from bots.engines import get_engine
from bots.prompts import build_messages
from bots.tasks import summarise_conversation
from memory.conversations.models import Contact, Conversation, Message
from memory.conversations.services import open_conversation
from memory.longterm.facts import remember_fact
from memory.longterm.identity import make_token, user_hash
from memory.longterm.models import BotIdentity, ConversationSummary, MemoryItem, Origin, Preference
from tests.conftest import LivePlatform, make_bot, make_widget_key, new_visitor_id
from tests.memory.longterm.test_identity import forged_token
from tests.widget_client import WidgetClient, is_final_reply

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def refused_with(live: LivePlatform, key: str, visitor: str, identity: dict[str, str]) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        WidgetClient(live.ws_url, key, visitor, identity=identity)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


def wait_for(check: Callable[[], Any], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError("timed out waiting for the workers")


def memory_frame(client: WidgetClient, frame: dict[str, Any]) -> dict[str, Any]:
    client.send(frame)
    return client.recv_until(lambda f: f["type"] in ("memory", "memory.export", "error"))[-1]


def test_a_signed_user_joins_their_anonymous_chat_and_an_unsigned_claim_is_refused(
    live_platform: LivePlatform,
) -> None:
    bot = make_bot()
    key = make_widget_key(bot).key
    secret = BotIdentity.objects.create(bot=bot).secret
    visitor = new_visitor_id()

    anonymous = WidgetClient(live_platform.ws_url, key, visitor)
    anonymous.resume(0)
    anonymous.send({"type": "message", "client_id": "a1", "text": "Where is my card?"})
    anonymous.recv_until(lambda f: f["type"] == "ack")
    assert anonymous.hello["conversation_id"] is None, "connecting started nothing"
    conversation_id = anonymous.conversation_id
    anonymous.close()

    # Wrong, another user's, missing, expired or foreign-secret signatures: refused (4401),
    # and the anonymous conversation stays the visitor's.
    for identity in [
        {"user_id": "cust-1", "user_hash": "0" * 64},
        {"user_id": "cust-1", "user_hash": user_hash(secret, "cust-2")},
        {"user_id": "cust-1"},
        {"token": make_token(secret, "cust-1", ttl_s=60, now=time.time() - 3600)},
        {"token": make_token("not-the-secret", "cust-1")},
        # Attack 1 of issue #11: a user hash for the user id `<header>.<payload>` as a JWT.
        {"token": forged_token(secret, "cust-1")},
    ]:
        assert refused_with(live_platform, key, visitor, identity) == 4401
    assert Conversation.objects.get(pk=conversation_id).contact.external_id == ""

    signed = WidgetClient(
        live_platform.ws_url,
        key,
        visitor,
        identity={"user_id": "cust-1", "user_hash": user_hash(secret, "cust-1")},
    )
    assert signed.hello["conversation_id"] == conversation_id, "the anonymous chat joins them"
    [message] = [f for f in signed.resume(0) if f["type"] == "message"][:1]
    assert message["message"]["text"] == "Where is my card?"
    contact = Conversation.objects.get(pk=conversation_id).contact
    assert contact.external_id == "cust-1"
    assert not Contact.objects.filter(organization=bot.organization, visitor_id=visitor).exists()
    remember_fact(contact, "plan", "Premium", origin=Origin.RULE)
    assert [i["text"] for i in memory_frame(signed, {"type": "memory.list"})["items"]] == [
        "Plan: Premium"
    ]
    signed.close()

    # The same browser without a signature (logged out) sees none of it: an anonymous
    # visitor id reads no stored memory at all (it used to list its own; issue #11).
    logged_out = WidgetClient(live_platform.ws_url, key, visitor)
    assert logged_out.hello["conversation_id"] is None  # none of theirs, and none started
    for frame in ({"type": "memory.list"}, {"type": "memory.export"}):
        refused = memory_frame(logged_out, frame)
        assert (refused["type"], refused["code"]) == ("error", "identity_required")
    logged_out.close()

    # A JWT for the same user reaches the same contact, from another device.
    jwt = WidgetClient(
        live_platform.ws_url,
        key,
        new_visitor_id(),
        identity={"token": make_token(secret, "cust-1")},
    )
    assert jwt.hello["conversation_id"] == conversation_id
    jwt.close()

    # While the host rotates, the old secret and the new one both verify; then only the new.
    identity = BotIdentity.objects.get(bot=bot)
    identity.previous_secret, identity.secret = secret, "a-brand-new-secret-of-the-bot"
    identity.save(update_fields=["previous_secret", "secret"])
    for signing in (secret, identity.secret):
        rotating = WidgetClient(
            live_platform.ws_url,
            key,
            new_visitor_id(),
            identity={"token": make_token(signing, "cust-1")},
        )
        assert rotating.hello["conversation_id"] == conversation_id
        rotating.close()
    identity.previous_secret = ""
    identity.save(update_fields=["previous_secret"])
    assert (
        refused_with(live_platform, key, new_visitor_id(), {"token": make_token(secret, "cust-1")})
        == 4401
    )

    # A bot without an identity secret believes no claim.
    other_key = make_widget_key(make_bot()).key
    claim = {"user_id": "cust-1", "user_hash": user_hash(secret, "cust-1")}
    assert refused_with(live_platform, other_key, new_visitor_id(), claim) == 4401


def test_what_we_remember_lists_sets_deletes_exports_and_erases_over_the_socket(
    live_platform: LivePlatform,
) -> None:
    bot = make_bot()
    key = make_widget_key(bot).key
    secret = BotIdentity.objects.create(bot=bot).secret
    # An anonymous visitor sets preferences and resumes their own chat, but reads, exports
    # and erases no stored memory: that needs a signed identity (issue #11).
    anonymous = WidgetClient(live_platform.ws_url, key, new_visitor_id())
    anonymous.resume(0)
    anonymous.send({"type": "message", "client_id": "a1", "text": "Hello there"})
    anonymous.recv_until(lambda f: f["type"] == "ack")
    stranger = Conversation.objects.get(pk=anonymous.conversation_id).contact
    remember_fact(stranger, "plan", "Gold", origin=Origin.RULE)
    for frame in (
        {"type": "memory.list"},
        {"type": "memory.export"},
        {"type": "memory.delete", "all": True, "messages": True},
        {"type": "memory.delete", "preference": "tone"},
    ):
        refused = memory_frame(anonymous, frame)
        assert (refused["type"], refused["code"]) == ("error", "identity_required"), frame
    set_anonymously = memory_frame(anonymous, {"type": "preferences.set", "tone": "brief"})
    assert set_anonymously["items"] == [] and set_anonymously["summaries"] == []
    assert set_anonymously["preferences"] == {"tone": {"value": "brief", "origin": "explicit"}}
    assert Message.objects.filter(conversation__contact=stranger).exists()
    assert MemoryItem.objects.filter(contact=stranger).exists()
    resumed = anonymous.resume(0)
    assert [f["message"]["text"] for f in resumed if f["type"] == "message"][:1] == ["Hello there"]
    anonymous.close()

    client = WidgetClient(
        live_platform.ws_url,
        key,
        new_visitor_id(),
        identity={"user_id": "cust-7", "user_hash": user_hash(secret, "cust-7")},
    )
    client.resume(0)
    client.send({"type": "message", "client_id": "c1", "text": "Hello, it's me"})
    client.recv_until(lambda f: f["type"] == "ack")
    contact = Conversation.objects.get(pk=client.conversation_id).contact
    other = open_conversation(bot, new_visitor_id()).contact
    theirs = remember_fact(other, "plan", "Metal", origin=Origin.RULE)

    shown = memory_frame(client, {"type": "preferences.set", "language": "fr", "tone": "brief"})
    assert shown["preferences"] == {
        "language": {"value": "French", "origin": "explicit"},
        "tone": {"value": "brief", "origin": "explicit"},
    }
    bad = memory_frame(client, {"type": "preferences.set", "tone": "shouty"})
    assert (bad["type"], bad["code"]) == ("error", "invalid_field")

    mine = remember_fact(contact, "plan", "Premium", origin=Origin.RULE)
    remember_fact(contact, "city", "Lisbon", origin=Origin.MODEL)
    listed = memory_frame(client, {"type": "memory.list"})
    assert sorted(i["text"] for i in listed["items"]) == ["Lives in: Lisbon", "Plan: Premium"]

    foreign = memory_frame(client, {"type": "memory.delete", "id": theirs.pk})
    assert (foreign["type"], foreign["code"]) == ("error", "not_found")
    assert MemoryItem.objects.filter(pk=theirs.pk).exists()
    after = memory_frame(client, {"type": "memory.delete", "id": mine.pk})
    assert [i["text"] for i in after["items"]] == ["Lives in: Lisbon"]

    # Attack 2 of issue #11: an agent's internal note reached the customer's export.
    from desk.services import add_note, ask_for_human, claim_conversation
    from tests.desk.factories import make_agent

    assert ask_for_human(client.conversation_id)
    agent = make_agent(bot.organization)
    claim_conversation(agent, client.conversation_id)
    add_note(agent, client.conversation_id, "internal: Zanzibarquux looks like fraud")

    export = memory_frame(client, {"type": "memory.export"})["data"]
    assert "Zanzibarquux" not in str(export)
    assert [f["text"] for f in export["facts"]] == ["Lives in: Lisbon"]
    assert export["preferences"]["language"]["value"] == "French"
    assert "Metal" not in str(export)

    erased = memory_frame(client, {"type": "memory.delete", "all": True, "messages": True})
    assert erased["items"] == [] and erased["preferences"] == {}
    with pytest.raises(ConnectionClosed) as closed:
        client.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4410
    assert not Contact.objects.filter(pk=contact.pk).exists()
    assert MemoryItem.objects.filter(pk=theirs.pk).exists()


def test_a_set_language_reaches_the_prompt_of_a_real_reply(live_platform: LivePlatform) -> None:
    bot = make_bot(max_tokens=16)
    key = make_widget_key(bot).key
    client = WidgetClient(live_platform.ws_url, key, new_visitor_id())
    client.resume(0)
    memory_frame(client, {"type": "preferences.set", "language": "es"})
    client.send({"type": "message", "client_id": "q1", "text": "How do I activate my card?"})
    final = client.recv_until(is_final_reply, timeout=120)[-1]["message"]
    assert final["status"] == "final"
    client.close()

    question = Message.objects.get(pk=final["reply_to"])
    conversation = question.conversation
    stored = Preference.objects.get(contact=conversation.contact, name="language")
    assert (stored.value, stored.origin) == ("Spanish", Origin.EXPLICIT)
    # The prompt the worker built for this reply (same function, same rows).
    prompt = build_messages(
        persona=bot.persona,
        history=[question],
        engine=get_engine(bot.engine, bot.model),
        max_tokens=bot.max_tokens,
        context=gather_context(conversation, question),
    )
    assert "Always answer in Spanish." in prompt[0]["content"]


def test_a_reply_that_draws_on_a_past_chat_cites_it_by_date(live_platform: LivePlatform) -> None:
    bot = make_bot(max_tokens=16)
    key = make_widget_key(bot).key
    visitor = new_visitor_id()
    client = WidgetClient(live_platform.ws_url, key, visitor)
    client.resume(0)
    client.send(
        {
            "type": "message",
            "client_id": "p1",
            "text": "I was charged twice for my gym membership, please refund one payment.",
        }
    )
    client.recv_until(is_final_reply, timeout=180)
    client.close()
    past = Conversation.objects.get(pk=client.conversation_id)
    Conversation.objects.filter(pk=past.pk).update(status=Conversation.Status.RESOLVED)
    summarise_conversation.delay(past.pk)  # what the beat sweep queues for an ended chat
    summary = wait_for(lambda: ConversationSummary.objects.filter(conversation=past).first())
    assert summary.text and summary.embedding is not None

    again = WidgetClient(live_platform.ws_url, key, visitor)
    assert again.hello["conversation_id"] != past.pk
    again.resume(0)
    again.send(
        {"type": "message", "client_id": "n1", "text": "Did the refund for the gym go through?"}
    )
    final = again.recv_until(is_final_reply, timeout=180)[-1]["message"]
    again.close()
    started = timezone.localtime(past.created_at)
    cited = [s for s in final["sources"] if s["kind"] == "conversation"]
    assert cited == [
        {
            "kind": "conversation",
            "title": f"Your chat on {started.day} {started:%b}",
            "url": "",
            "snippet": summary.text[:300],
            "conversation_id": past.pk,
        }
    ]


def test_the_rules_and_the_model_remember_through_the_workers_and_a_change_replaces(
    live_platform: LivePlatform,
) -> None:
    bot = make_bot(max_tokens=8)
    key = make_widget_key(bot).key
    visitor = new_visitor_id()

    def send(client_id: str, text: str) -> int:
        # A socket per message, like a customer coming back: none sits idle for minutes
        # while the workers (slow on a loaded machine) do the background work.
        client = WidgetClient(live_platform.ws_url, key, visitor)
        client.resume(0)
        client.send({"type": "message", "client_id": client_id, "text": text})
        ack = client.recv_until(lambda f: f["type"] == "ack")[-1]
        client.close()
        return int(ack["message"]["id"])

    def fact(key: str) -> tuple[str, int | None] | None:
        item = MemoryItem.objects.filter(contact=contact, key=key).first()
        return (item.value, item.source_message_id) if item else None

    first = send("m1", "My name is Quokkalina and I'm on the Basic plan.")
    contact = Message.objects.get(pk=first).conversation.contact
    second = send("m2", "I live in Lisbon.")
    assert wait_for(lambda: fact("plan")) == ("Basic", first)
    name = wait_for(lambda: Preference.objects.filter(contact=contact, name="name").first())
    assert (name.value, name.origin, name.source_message_id) == ("Quokkalina", "rule", first)
    assert wait_for(lambda: fact("city"), timeout=240) == ("Lisbon", second)
    assert MemoryItem.objects.get(contact=contact, key="city").origin == Origin.MODEL

    third = send("m3", "I upgraded to the Premium plan.")
    fourth = send("m4", "I have moved and now live in Porto.")
    assert wait_for(lambda: fact("plan") == ("Premium", third))
    assert wait_for(lambda: fact("city") == ("Porto", fourth), timeout=240)
    assert MemoryItem.objects.filter(contact=contact).count() == 2
    assert all(item.embedding is not None for item in MemoryItem.objects.filter(contact=contact))

    # Another visitor of the same bot asks for the name: none of it reaches their reply.
    stranger = WidgetClient(live_platform.ws_url, key, new_visitor_id())
    stranger.resume(0)
    stranger.send({"type": "message", "client_id": "s1", "text": "What is my name and city?"})
    reply = stranger.recv_until(is_final_reply, timeout=240)[-1]["message"]
    assert "Quokkalina" not in reply["text"] and "Porto" not in reply["text"]
    question = Message.objects.get(pk=reply["reply_to"])
    context = gather_context(question.conversation, question)
    assert context.memories == [] and context.preferences == {}
    stranger.close()
