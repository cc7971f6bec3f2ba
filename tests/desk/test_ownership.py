"""Who owns a conversation: one owner at a time, decided by Postgres."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth.models import User
from django.db import connection

from accounts.access import NotFound
from desk import services
from desk.models import AuditEvent, Handoff
from memory.conversations.models import Conversation, Message
from tests.conftest import make_bot
from tests.desk.factories import make_agent, make_conversation

pytestmark = pytest.mark.django_db(transaction=True)


def _claim(
    barrier: threading.Barrier, agent: User, conversation_id: int, outcomes: list[str], n: int
) -> None:
    try:
        barrier.wait()
        services.claim_conversation(agent, conversation_id)
        outcomes.append(f"won:{n}")
    except services.Conflict:
        outcomes.append("lost")
    finally:
        connection.close()  # each thread has its own Postgres connection


def test_two_agents_claiming_at_the_same_moment_exactly_one_wins() -> None:
    bot = make_bot()
    agents = [make_agent(bot.organization) for _ in range(2)]
    for _round in range(15):
        conversation = make_conversation(bot)
        assert services.request_handoff(conversation.pk, "customer_asked")
        barrier = threading.Barrier(2)
        outcomes: list[str] = []
        threads = [
            threading.Thread(target=_claim, args=(barrier, agents[i], conversation.pk, outcomes, i))
            for i in range(2)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(outcomes)[0] == "lost" and len(outcomes) == 2, outcomes
        winner = agents[int(next(o for o in outcomes if o.startswith("won")).split(":")[1])]
        conversation.refresh_from_db()
        assert (conversation.status, conversation.assignee) == ("agent", winner)
        assert AuditEvent.objects.filter(conversation=conversation, action="claim").count() == 1


def test_only_the_owner_writes_and_hand_back_returns_the_conversation_to_the_bot() -> None:
    bot = make_bot()
    owner, other = make_agent(bot.organization), make_agent(bot.organization)
    conversation = make_conversation(bot, status="waiting")
    services.claim_conversation(owner, conversation.pk)

    with pytest.raises(services.Conflict):
        services.claim_conversation(other, conversation.pk)
    with pytest.raises(services.Conflict):
        services.send_agent_message(other, conversation.pk, "hi from the wrong agent")
    message = services.send_agent_message(owner, conversation.pk, "Hi, I'm here to help.")
    assert (message.role, message.author, message.seq) == ("agent", owner, 1)

    services.hand_back_to_bot(owner, conversation.pk)
    conversation.refresh_from_db()
    assert (conversation.status, conversation.assignee) == ("bot", None)
    with pytest.raises(services.Conflict):
        services.send_agent_message(owner, conversation.pk, "too late")
    assert Handoff.objects.get(conversation=conversation).ended_at is not None


def test_an_agent_of_another_organization_gets_not_found_for_every_action() -> None:
    bot = make_bot()
    outsider = make_agent(make_bot().organization)
    conversation = make_conversation(bot, status="waiting")
    for action in (
        lambda: services.claim_conversation(outsider, conversation.pk),
        lambda: services.send_agent_message(outsider, conversation.pk, "x"),
        lambda: services.add_note(outsider, conversation.pk, "x"),
        lambda: services.hand_back_to_bot(outsider, conversation.pk),
        lambda: services.resolve_conversation(outsider, conversation.pk),
        lambda: services.transfer_conversation(outsider, conversation.pk, outsider.pk),
    ):
        with pytest.raises(NotFound):
            action()
    conversation.refresh_from_db()
    assert (conversation.status, conversation.assignee) == ("waiting", None)
    assert not Message.objects.filter(conversation=conversation).exists()


def test_resolving_asks_for_csat_once_and_scores_outside_1_to_5_are_refused() -> None:
    bot = make_bot()
    agent = make_agent(bot.organization)
    conversation = make_conversation(bot, status="waiting")
    with pytest.raises(services.Conflict):
        services.record_csat(conversation.pk, 5)
    services.claim_conversation(agent, conversation.pk)
    services.resolve_conversation(agent, conversation.pk)
    csat = services.record_csat(conversation.pk, 4, "quick and kind")
    assert (csat.score, csat.agent) == (4, agent)
    conversation.refresh_from_db()
    assert conversation.status == Conversation.Status.RESOLVED and conversation.resolved_at


def test_transfer_goes_only_to_an_online_agent_of_the_same_organization() -> None:
    bot = make_bot()
    owner = make_agent(bot.organization)
    online = make_agent(bot.organization)
    away = make_agent(bot.organization, online=False)
    outsider = make_agent(make_bot().organization)
    conversation = make_conversation(bot, status="waiting")
    services.claim_conversation(owner, conversation.pk)

    for target in (away, outsider, owner):
        with pytest.raises(NotFound):
            services.transfer_conversation(owner, conversation.pk, target.pk)
    services.transfer_conversation(owner, conversation.pk, online.pk)
    conversation.refresh_from_db()
    assert (conversation.status, conversation.assignee) == ("agent", online)
    with pytest.raises(services.Conflict):
        services.send_agent_message(owner, conversation.pk, "not mine any more")
    assert services.send_agent_message(online, conversation.pk, "Taking over.").author == online
    event = AuditEvent.objects.get(action="transfer")
    assert (event.actor, event.detail) == (owner, {"to": online.pk})
