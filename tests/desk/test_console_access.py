"""Tenancy and login: every console URL and socket action, for everyone who must not get in."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client
from websockets.exceptions import InvalidStatus

from desk import services
from desk.models import AuditEvent, Note
from memory.conversations.models import Conversation, Message
from tests.conftest import LivePlatform, make_bot
from tests.desk.console_client import ConsoleClient
from tests.desk.factories import PASSWORD, make_agent, make_conversation


def _client(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


@pytest.mark.django_db
def test_console_pages_answer_404_or_login_to_everyone_outside_the_organization() -> None:
    bot = make_bot()
    owner_agent = make_agent(bot.organization)
    admin = make_agent(bot.organization, role="admin")
    conversation = make_conversation(bot, status="waiting")
    services.claim_conversation(owner_agent, conversation.pk)
    Note.objects.create(conversation=conversation, author=owner_agent, text="secret note")
    other_org = make_bot().organization
    outsider = make_agent(other_org)
    outsider_admin = make_agent(other_org, role="admin")
    loner = User.objects.create_user("loner", password=PASSWORD)
    detail = f"/console/c/{conversation.pk}/"

    # The cast that may: the agent and the admin of the organization.
    assert _client(owner_agent).get(detail).status_code == 200
    assert b"secret note" in _client(admin).get(detail).content
    assert _client(admin).get("/console/audit/").status_code == 200
    assert _client(owner_agent).get("/console/audit/").status_code == 404  # agents: no audit

    successes = []
    for name, user in [
        ("outsider", outsider),
        ("outsider admin", outsider_admin),
        ("no membership", loner),
        ("anonymous", None),
    ]:
        client = _client(user)
        for url in ("/console/", detail, "/console/audit/", f"/console/c/{10**9}/"):
            response = client.get(url)
            body = response.content.decode()
            leaked = f"#{conversation.pk} " in body or "secret note" in body
            if user is None:
                ok = response.status_code == 302 and "/console/login/" in response["Location"]
            elif url == "/console/" and user in (outsider, outsider_admin):
                ok = response.status_code == 200 and not leaked  # their own, empty queue
            elif url == "/console/audit/" and user is outsider_admin:
                ok = response.status_code == 200 and not leaked
            else:
                ok = response.status_code == 404
            if not ok or leaked:
                successes.append((name, url, response.status_code))
    assert successes == []
    # A foreign conversation and a missing one answer the same.
    foreign = _client(outsider).get(detail)
    missing = _client(outsider).get(f"/console/c/{10**9}/")
    assert foreign.status_code == missing.status_code == 404


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_console_socket_actions_on_a_foreign_conversation_all_fail(
    live_platform: LivePlatform,
) -> None:
    bot = make_bot()
    member = make_agent(bot.organization)
    conversation = make_conversation(bot, status="waiting")
    outsider = make_agent(make_bot().organization)
    loner = User.objects.create_user("loner", password=PASSWORD)

    # No session, no membership, or a foreign Origin: the handshake is refused.
    for user, origin in [(None, None), (loner, None), (member, "https://evil.example")]:
        with pytest.raises(InvalidStatus):
            ConsoleClient(live_platform.url, live_platform.ws_url, user, origin=origin)

    console = ConsoleClient(live_platform.url, live_platform.ws_url, outsider)
    queue = console.recv()
    assert queue["type"] == "queue" and queue["waiting"] == []
    actions = {
        "watch": {},
        "claim": {},
        "send": {"text": "hello"},
        "typing": {"on": True},
        "note": {"text": "x"},
        "transfer": {"to": outsider.pk},
        "hand_back": {},
        "resolve": {},
        "draft": {},
    }
    answers = {
        action: console.act(action, conversation_id=conversation.pk, **fields)
        for action, fields in actions.items()
    }
    assert [a for a in answers.values() if a["type"] != "error"] == []
    assert {a["code"] for a in answers.values()} == {"not_found"}
    missing = console.act("claim", conversation_id=10**9)
    assert missing["code"] == answers["claim"]["code"]
    console.close()

    conversation.refresh_from_db()
    assert (conversation.status, conversation.assignee) == ("waiting", None)
    assert not Message.objects.filter(conversation=conversation).exists()
    assert not Note.objects.filter(conversation=conversation).exists()
    assert not AuditEvent.objects.filter(conversation=conversation).exists()
    assert Conversation.objects.get(pk=conversation.pk).status == "waiting"
    _ = member


@pytest.mark.django_db
def test_five_wrong_passwords_lock_the_login_for_that_username_and_address() -> None:
    """Per username and per address (django-axes). This test used to let the same username in
    from a second address; a lockout per username is what stops guessing from many addresses,
    so the second address is now refused too (docs/security.md)."""
    agent = make_agent(make_bot().organization)
    colleague = make_agent(make_bot().organization)
    client = Client(REMOTE_ADDR="10.0.0.1")
    assert client.get("/console/login/").status_code == 200
    for _attempt in range(4):
        response = client.post("/console/login/", {"username": agent.username, "password": "guess"})
        assert response.status_code == 401
    # The fifth failure locks, and is answered with the lockout.
    response = client.post("/console/login/", {"username": agent.username, "password": "guess"})
    assert response.status_code == 429
    # Now even the right password is refused, without being checked.
    response = client.post("/console/login/", {"username": agent.username, "password": PASSWORD})
    assert response.status_code == 429
    assert b"Too many failed attempts" in response.content
    assert "_auth_user_id" not in client.session
    # The username is locked from every address…
    other = Client(REMOTE_ADDR="10.0.0.2")
    response = other.post("/console/login/", {"username": agent.username, "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in other.session
    # …and the address for every username.
    colleague_login = {"username": colleague.username, "password": PASSWORD}
    response = client.post("/console/login/", colleague_login)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    # Someone else from elsewhere still gets in; a good login clears its own failures.
    response = other.post("/console/login/", colleague_login)
    assert response.status_code == 302 and response["Location"] == "/console/"
    assert other.get("/console/").status_code == 200
    assert AccessAttempt.objects.get(ip_address="10.0.0.1").failures_since_start >= 5
    assert not AccessAttempt.objects.filter(ip_address="10.0.0.2").exists()


@pytest.mark.django_db
def test_logging_in_from_a_conversations_link_opens_that_conversation_and_never_another_site() -> (
    None
):
    bot = make_bot()
    agent = make_agent(bot.organization)
    conversation = make_conversation(bot, status="waiting")
    detail = f"/console/c/{conversation.pk}/"
    login_page = Client().get(detail)["Location"]
    assert login_page == f"/console/login/?next={detail}"
    credentials = {"username": agent.username, "password": PASSWORD}

    response = Client().post(login_page, credentials)
    assert response.status_code == 302 and response["Location"] == detail
    for elsewhere in ("https://evil.example/console/", "//evil.example/", "/\\evil.example"):
        response = Client().post("/console/login/", credentials, QUERY_STRING=f"next={elsewhere}")
        assert response.status_code == 302 and response["Location"] == "/console/", elsewhere
