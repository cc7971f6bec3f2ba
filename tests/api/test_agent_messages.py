"""The REST message endpoint goes through the desk's state machine, as the console does
(issue #11, item 6): owner check, reply in flight cut, handoff and audit rows, queue events,
and never a conversation nobody can claim or a reply left `streaming`."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

import pytest
from django.test import Client

from api.keys import create_api_key
from desk import services as desk
from desk.models import AuditEvent, Handoff
from memory.conversations.models import Conversation, Message
from tests.conftest import LivePlatform, make_bot, make_widget_key, new_visitor_id
from tests.desk.factories import make_agent, make_conversation, manual_queue
from tests.widget_client import WidgetClient

from .factories import bearer, make_tenant

MESSAGES = "/api/conversations/{}/messages"


def _post(client: Client, conversation_id: int, text: str, **extra: Any) -> Any:
    return client.post(
        MESSAGES.format(conversation_id),
        data={"text": text},
        content_type="application/json",
        **extra,
    )


def _console_client(agent: Any) -> Client:
    # A console session (its login, locked out by django-axes after failures, is tested in
    # tests/accounts/test_login_lockout.py).
    client = Client()
    client.force_login(agent)
    return client


@pytest.mark.django_db
def test_an_agent_session_claims_a_conversation_from_the_bot_then_only_the_owner_writes() -> None:
    bot = make_bot()
    manual_queue(bot)
    owner, other = make_agent(bot.organization), make_agent(bot.organization)
    conversation = make_conversation(bot)

    response = _post(_console_client(owner), conversation.pk, "Hi, Dana here.")
    assert response.status_code == 201, response.content
    conversation.refresh_from_db()
    assert (conversation.status, conversation.assignee) == ("agent", owner)
    trip = Handoff.objects.get(conversation=conversation)
    assert (trip.reason, trip.agent) == ("agent_takeover", owner)
    actions = AuditEvent.objects.filter(conversation=conversation, actor=owner)
    assert sorted(actions.values_list("action", flat=True)) == ["claim", "message"]

    # Another agent of the same organization: the owner check answers 409, nothing stored.
    before = Message.objects.filter(conversation=conversation).count()
    refused = _post(_console_client(other), conversation.pk, "me too")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "conflict"
    # An API key cannot write into a conversation a person owns either.
    _, key = create_api_key(bot.organization_id, "writer", "write")
    assert _post(Client(), conversation.pk, "integration", **bearer(key)).status_code == 409
    assert Message.objects.filter(conversation=conversation).count() == before

    desk.resolve_conversation(owner, conversation.pk)
    assert _post(_console_client(owner), conversation.pk, "after").status_code == 409
    assert _post(Client(), conversation.pk, "after", **bearer(key)).status_code == 409


@pytest.mark.django_db
def test_a_key_message_into_a_waiting_conversation_leaves_it_claimable() -> None:
    tenant = make_tenant()
    manual_queue(tenant.bot)
    assert desk.request_handoff(tenant.conversation.pk, "customer_asked")
    response = _post(Client(), tenant.conversation.pk, "We are on it.", **bearer(tenant.write_key))
    assert response.status_code == 201
    tenant.conversation.refresh_from_db()
    assert (tenant.conversation.status, tenant.conversation.assignee_id) == ("waiting", None)
    assert Handoff.objects.filter(conversation=tenant.conversation).count() == 1
    agent = make_agent(tenant.org)
    assert desk.claim_conversation(agent, tenant.conversation.pk).assignee == agent


def _wait(client: WidgetClient, predicate: Any, timeout: float = 60) -> list[dict[str, Any]]:
    try:
        return client.recv_until(predicate, timeout=timeout)
    except TimeoutError:
        raise AssertionError(f"timed out; frames so far: {client.frames[-12:]}") from None


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_key_message_while_the_bot_streams_cuts_the_reply_and_queues_the_customer(
    live_platform: LivePlatform,
) -> None:
    """Real web server, Redis and llm worker (SmolLM2): the API message lands mid-reply."""
    tenant_bot = make_bot(max_tokens=400, temperature=0.7)
    manual_queue(tenant_bot)
    key = make_widget_key(tenant_bot)
    _, write_key = create_api_key(tenant_bot.organization_id, "writer", "write")
    widget = WidgetClient(live_platform.ws_url, key.key, new_visitor_id())
    widget.resume(0)
    widget.send(
        {
            "type": "message",
            "client_id": "long",
            "text": "Write a long, detailed essay about the history of banking in Europe.",
        }
    )
    reply_id = _wait(widget, lambda f: f["type"] == "reply.delta", timeout=300)[-1]["message_id"]
    conversation_id = widget.conversation_id  # started by that first message

    request = urllib.request.Request(
        f"{live_platform.url}{MESSAGES.format(conversation_id)}",
        data=json.dumps({"text": "A person here, one moment."}).encode(),
        headers={"Authorization": f"Bearer {write_key}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 201
    _wait(widget, lambda f: f["type"] == "conversation.status" and f["status"] == "waiting")
    _wait(widget, lambda f: f["type"] == "message" and f["message"]["role"] == "agent")
    after: list[dict[str, Any]] = []
    end = time.monotonic() + 5
    while time.monotonic() < end:
        try:
            after.append(widget.recv(timeout=max(0.1, end - time.monotonic())))
        except TimeoutError:
            break
    assert not [f for f in after if f["type"] == "reply.delta"], after

    reply = Message.objects.get(pk=reply_id)
    assert reply.status == "final" and reply.error.startswith("stopped")
    assert not Message.objects.filter(conversation_id=conversation_id, status="streaming").exists()
    conversation = Conversation.objects.get(pk=conversation_id)
    assert (conversation.status, conversation.assignee_id) == ("waiting", None)
    assert Handoff.objects.get(conversation=conversation).reason == "api_message"
    assert AuditEvent.objects.filter(conversation=conversation, action="handoff").exists()
    # Somebody can always take it from here.
    agent = make_agent(conversation.organization)
    assert desk.claim_conversation(agent, conversation_id).assignee == agent
    widget.close()
