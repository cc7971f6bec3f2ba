"""API keys: tenant isolation, revocation and read-only scope, through the real HTTP stack."""

from __future__ import annotations

import pytest
from django.test import Client

from api.keys import revoke_api_key
from api.models import ApiKey, WebhookEndpoint
from bots.models import Bot
from desk.models import AuditEvent, Handoff

from .factories import bearer, make_tenant

pytestmark = pytest.mark.django_db


def test_a_key_of_one_organization_gets_404_for_every_object_of_another() -> None:
    mine, theirs = make_tenant(), make_tenant()
    hook = WebhookEndpoint.objects.create(
        organization=theirs.org, url="https://hooks.example/x", events=["message.created"]
    )
    client = Client()
    auth = bearer(mine.write_key)
    reads = [
        f"/api/bots/{theirs.bot.pk}",
        f"/api/bots/{theirs.bot.pk}/widget-keys",
        f"/api/conversations/{theirs.conversation.pk}",
        f"/api/conversations/{theirs.conversation.pk}/messages",
        f"/api/webhooks/{hook.pk}",
        f"/api/webhooks/{hook.pk}/deliveries",
    ]
    for url in reads:
        response = client.get(url, **auth)
        assert response.status_code == 404, url
        assert response.json()["error"]["code"] == "not_found"
    writes = [
        ("patch", f"/api/bots/{theirs.bot.pk}", {"name": "pwned"}),
        ("delete", f"/api/bots/{theirs.bot.pk}", None),
        ("post", f"/api/bots/{theirs.bot.pk}/widget-keys", {"allowed_origins": []}),
        ("post", f"/api/widget-keys/{theirs.widget_key.pk}/revoke", None),
        ("post", f"/api/conversations/{theirs.conversation.pk}/messages", {"text": "hi"}),
        ("patch", f"/api/webhooks/{hook.pk}", {"active": False}),
        ("delete", f"/api/webhooks/{hook.pk}", None),
    ]
    for method, url, body in writes:
        response = getattr(client, method)(url, data=body, content_type="application/json", **auth)
        assert response.status_code == 404, url
    # Lists show only the caller's own rows.
    listed = client.get("/api/conversations", **auth).json()
    assert [c["id"] for c in listed["items"]] == [mine.conversation.pk]
    feedback = client.get("/api/feedback", **auth).json()
    assert [f["id"] for f in feedback["items"]] == [mine.feedback.pk]
    assert Bot.objects.get(pk=theirs.bot.pk).name == theirs.bot.name
    theirs.widget_key.refresh_from_db()
    assert not theirs.widget_key.revoked
    assert WebhookEndpoint.objects.get(pk=hook.pk).active


def test_a_revoked_key_gets_401_and_an_unknown_one_too() -> None:
    tenant = make_tenant()
    client = Client()
    assert client.get("/api/bots", **bearer(tenant.read_key)).status_code == 200
    key = ApiKey.objects.get(organization=tenant.org, name="reader")
    revoke_api_key(key)
    response = client.get("/api/bots", **bearer(tenant.read_key))
    assert response.status_code == 401
    assert response.json() == {
        "error": {
            "code": "unauthorized",
            "message": "Missing, unknown or revoked credentials.",
            "details": [],
        }
    }
    assert client.get("/api/bots", **bearer("sb_nope_nothing")).status_code == 401
    assert client.get("/api/bots").status_code == 401


def test_keys_are_stored_hashed_never_in_plain_text() -> None:
    tenant = make_tenant()
    key = ApiKey.objects.get(organization=tenant.org, name="writer")
    assert tenant.write_key not in (key.hashed_key, key.prefix)
    assert len(key.hashed_key) == 64
    assert tenant.write_key.startswith(f"sb_{key.prefix}_")


def test_a_read_only_key_can_read_but_not_write() -> None:
    tenant = make_tenant()
    client = Client()
    auth = bearer(tenant.read_key)
    assert client.get(f"/api/bots/{tenant.bot.pk}", **auth).json()["name"] == tenant.bot.name
    attempts = [
        ("post", "/api/bots", {"name": "new"}),
        ("patch", f"/api/bots/{tenant.bot.pk}", {"name": "renamed"}),
        ("delete", f"/api/bots/{tenant.bot.pk}", None),
        ("post", f"/api/bots/{tenant.bot.pk}/widget-keys", {"allowed_origins": []}),
        ("post", f"/api/widget-keys/{tenant.widget_key.pk}/revoke", None),
        ("post", f"/api/conversations/{tenant.conversation.pk}/messages", {"text": "hi"}),
        ("post", "/api/webhooks", {"url": "https://hooks.example/", "events": ["message.created"]}),
    ]
    for method, url, body in attempts:
        response = getattr(client, method)(url, data=body, content_type="application/json", **auth)
        assert response.status_code == 403, url
        assert response.json()["error"]["code"] == "forbidden"
    tenant.bot.refresh_from_db()
    assert tenant.bot.name == "Test bot"
    assert Bot.objects.filter(organization=tenant.org).count() == 1
    assert tenant.conversation.messages.count() == 2


def test_a_write_key_sends_an_agent_message_that_takes_the_conversation_from_the_bot() -> None:
    tenant = make_tenant()
    response = Client().post(
        f"/api/conversations/{tenant.conversation.pk}/messages",
        data={"text": "Hello, a human here."},
        content_type="application/json",
        **bearer(tenant.write_key),
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["role"], body["seq"], body["text"]) == ("agent", 3, "Hello, a human here.")
    tenant.conversation.refresh_from_db()
    # Taken from the bot into the queue (issue #11, item 6): a key is nobody an agent could
    # wait on, so the conversation waits where any agent can claim it, never `agent` unowned.
    assert (tenant.conversation.status, tenant.conversation.assignee_id) == ("waiting", None)
    assert Handoff.objects.get(conversation=tenant.conversation).reason == "api_message"
    assert set(
        AuditEvent.objects.filter(conversation=tenant.conversation).values_list("action", flat=True)
    ) == {"handoff", "message"}


def test_lists_paginate_and_filter() -> None:
    tenant = make_tenant()
    for n in range(3):
        Bot.objects.create(organization=tenant.org, name=f"extra {n}")
    client = Client()
    auth = bearer(tenant.read_key)
    first = client.get("/api/bots?limit=2&offset=0", **auth).json()
    second = client.get("/api/bots?limit=2&offset=2", **auth).json()
    assert first["count"] == second["count"] == 4
    assert len(first["items"]) == len(second["items"]) == 2
    assert {b["id"] for b in first["items"]}.isdisjoint({b["id"] for b in second["items"]})
    only_bots = client.get(
        f"/api/conversations/{tenant.conversation.pk}/messages?role=bot", **auth
    ).json()
    assert [m["seq"] for m in only_bots["items"]] == [2]
    bad = client.get("/api/bots?limit=0", **auth)
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "invalid"


def test_the_console_session_works_with_its_role_and_needs_csrf_to_write() -> None:
    from django.contrib.auth.models import User

    from accounts.models import Membership

    tenant, other = make_tenant(), make_tenant()
    owner = User.objects.create_user(f"owner-{tenant.org.slug}", password="pw-owner-1")
    agent = User.objects.create_user(f"agent-{tenant.org.slug}", password="pw-agent-1")
    Membership.objects.create(user=owner, organization=tenant.org, role="owner")
    Membership.objects.create(user=agent, organization=tenant.org, role="agent")

    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.get("/api/bots").json()["count"] == 1
    # Another organization by header: not a member, so not authenticated for it.
    assert client.get("/api/bots", HTTP_X_ORGANIZATION=str(other.org.pk)).status_code == 401
    refused = client.post("/api/bots", data={"name": "x"}, content_type="application/json")
    assert refused.status_code == 403  # no CSRF token
    client.get("/api/docs")  # sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    created = client.post(
        "/api/bots", data={"name": "Made in the console"}, content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )  # fmt: skip
    assert created.status_code == 201
    key = client.post(
        "/api/api-keys", data={"name": "ci", "scope": "read"}, content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    )  # fmt: skip
    assert key.status_code == 201 and key.json()["key"].startswith("sb_")

    client.force_login(agent)
    assert client.get("/api/conversations").status_code == 200
    token = client.cookies["csrftoken"].value
    assert client.post(
        "/api/bots", data={"name": "no"}, content_type="application/json",
        HTTP_X_CSRFTOKEN=token,
    ).status_code == 403  # fmt: skip
    # A write key cannot mint keys either: that stays with owners and admins in the console.
    assert Client().post(
        "/api/api-keys", data={"name": "x"}, content_type="application/json",
        **bearer(tenant.write_key),
    ).status_code == 403  # fmt: skip
