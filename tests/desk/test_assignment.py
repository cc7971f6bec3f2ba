"""Auto-assignment: waiting conversations go to online agents with room, one owner each."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import User
from django.test import Client

from bots.models import Bot
from desk import presence, services
from desk.assignment import assign_waiting_conversations
from desk.models import AuditEvent, Handoff
from desk.selectors import queue_position
from memory.conversations.models import Conversation
from tests.conftest import make_bot
from tests.desk.factories import (
    make_agent,
    make_conversation,
    manual_queue,
    open_console_tab,
    set_policy,
)
from tests.desk.threads import at_once

pytestmark = pytest.mark.django_db(transaction=True)


def _owner(conversation: Conversation) -> User | None:
    conversation.refresh_from_db()
    return conversation.assignee if conversation.status == "agent" else None


def _waiting(bot: Bot) -> Conversation:
    conversation = make_conversation(bot)
    assert services.request_handoff(conversation.pk, "customer_asked")
    return conversation


def test_a_waiting_conversation_goes_to_the_online_agent_with_the_fewest_open_ones() -> None:
    bot = make_bot()
    org = bot.organization
    busy, light = make_agent(org), make_agent(org)
    away, closed_tab, never_connected = make_agent(org), make_agent(org), make_agent(org)
    outsider = make_agent(make_bot().organization)
    admin = make_agent(org, role="admin", online=False)
    for agent in (busy, light, away, outsider):
        open_console_tab(agent)
    presence.choose_presence(away, "away")
    presence.console_closed(closed_tab.pk, open_console_tab(closed_tab))
    for agent, load in ((busy, 2), (light, 1)):
        for _ in range(load):
            services.claim_conversation(agent, make_conversation(bot, status="waiting").pk)

    conversation = _waiting(bot)

    # The away agent, the one whose tab closed, the one with no console and the agent of
    # another organization all have fewer open conversations; none of them gets it.
    assert _owner(conversation) == light
    trip = Handoff.objects.get(conversation=conversation)
    assert (trip.agent, trip.reason, trip.ended_at) == (light, "customer_asked", None)
    assert trip.claimed_at is not None
    event = AuditEvent.objects.get(conversation=conversation)
    assert (event.actor, event.action, event.detail) == (
        None,
        "auto_assign",
        {"to": light.pk, "by": "auto-assign"},
    )
    client = Client()
    client.force_login(admin)
    audit_page = client.get("/console/audit/").content.decode()
    assert "<td>auto-assign</td><td>auto_assign</td>" in audit_page
    assert never_connected.presence.status == "online"  # the factory's row, no console


def test_ties_go_to_the_agent_assigned_least_recently() -> None:
    bot = make_bot()
    first, second = make_agent(bot.organization), make_agent(bot.organization)
    for agent in (first, second):
        open_console_tab(agent)
    owners = []
    for _ in range(4):
        conversation = _waiting(bot)
        owner = _owner(conversation)
        assert owner is not None
        owners.append(owner)
        services.resolve_conversation(owner, conversation.pk)  # back to 0 open each
    assert owners == [first, second, first, second]


def test_capacity_holds_and_a_freed_place_goes_to_the_longest_waiting() -> None:
    bot = make_bot()
    set_policy(bot, max_open_per_agent=2)
    agent = make_agent(bot.organization)
    open_console_tab(agent)
    conversations = [_waiting(bot) for _ in range(4)]
    assert [_owner(c) for c in conversations] == [agent, agent, None, None]
    assert [queue_position(c) for c in conversations[2:]] == [1, 2]

    services.resolve_conversation(agent, conversations[0].pk)
    assert [_owner(c) for c in conversations[2:]] == [agent, None]
    services.hand_back_to_bot(agent, conversations[1].pk)
    assert _owner(conversations[3]) == agent


def test_a_transfer_away_frees_a_place_for_the_giver() -> None:
    bot = make_bot()
    set_policy(bot, max_open_per_agent=1)
    giver, receiver = make_agent(bot.organization), make_agent(bot.organization)
    open_console_tab(giver)
    first = _waiting(bot)
    open_console_tab(receiver)
    second, third = _waiting(bot), _waiting(bot)
    assert [_owner(c) for c in (first, second, third)] == [giver, receiver, None]

    # The receiver goes over capacity (a person chose that); the giver has room again.
    services.transfer_conversation(giver, first.pk, receiver.pk)
    assert [_owner(c) for c in (first, second, third)] == [receiver, receiver, giver]


def test_an_agent_coming_online_gets_the_waiting_conversations_longest_waiting_first() -> None:
    bot = make_bot()
    set_policy(bot, max_open_per_agent=2)
    agent = make_agent(bot.organization)
    conversations = [make_conversation(bot) for _ in range(3)]
    for conversation in (conversations[2], conversations[0], conversations[1]):
        assert services.request_handoff(conversation.pk, "customer_asked")
    assert [_owner(c) for c in conversations] == [None, None, None]  # nobody online

    open_console_tab(agent)
    assert [_owner(c) for c in conversations] == [agent, None, agent]

    # Away keeps what they have and gets nothing new; back online, they get the next one.
    presence.choose_presence(agent, "away")
    assert [_owner(c) for c in conversations] == [agent, None, agent]
    services.resolve_conversation(agent, conversations[0].pk)
    assert _owner(conversations[1]) is None
    presence.choose_presence(agent, "online")
    assert _owner(conversations[1]) == agent


def test_a_bot_without_auto_assignment_leaves_its_conversations_to_claim() -> None:
    bot = make_bot()
    manual_queue(bot)
    agent = make_agent(bot.organization)
    open_console_tab(agent)
    conversation = _waiting(bot)
    assert _owner(conversation) is None and queue_position(conversation) == 1
    assert assign_waiting_conversations(bot.organization_id) == []
    services.claim_conversation(agent, conversation.pk)
    assert _owner(conversation) == agent


def test_a_claim_and_an_auto_assignment_at_the_same_moment_give_one_owner() -> None:
    bot = make_bot()
    claimer, online = make_agent(bot.organization), make_agent(bot.organization)
    open_console_tab(online)
    for _round in range(15):
        # Waiting without a pass having run yet (as right before an agent's tab connects).
        conversation = make_conversation(bot, status="waiting")
        # The pass does more before its UPDATE than a claim: start the claim a little later
        # each round so that the two UPDATEs meet at different offsets.
        delay = _round * 0.001

        def claim(conversation_id: int = conversation.pk, delay: float = delay) -> Conversation:
            time.sleep(delay)
            return services.claim_conversation(claimer, conversation_id)

        claimed, assigned = at_once(
            claim, lambda: assign_waiting_conversations(bot.organization_id)
        )
        won_claim = isinstance(claimed, Conversation)
        won_assignment = assigned == [conversation.pk]
        assert won_claim != won_assignment, (claimed, assigned)
        assert isinstance(claimed, Conversation | services.Conflict), claimed
        owner = _owner(conversation)
        assert owner == (claimer if won_claim else online)
        actions = AuditEvent.objects.filter(conversation=conversation).values_list(
            "action", flat=True
        )
        assert list(actions) == ["claim" if won_claim else "auto_assign"]
        assert Handoff.objects.filter(conversation=conversation, agent=owner).count() == 1
        assert owner is not None
        services.resolve_conversation(owner, conversation.pk)


def test_two_agents_coming_online_at_the_same_moment_give_one_owner() -> None:
    bot = make_bot()
    agents = [make_agent(bot.organization) for _ in range(2)]
    for _round in range(15):
        conversation = _waiting(bot)
        assert _owner(conversation) is None
        tabs = [f"race.{_round}.{n}" for n in range(2)]
        results = at_once(
            *(
                (lambda agent=agent, tab=tab: presence.console_opened(agent, tab))
                for agent, tab in zip(agents, tabs, strict=True)
            )
        )
        assert results == [None, None]
        owner = _owner(conversation)
        assert owner in agents
        assert AuditEvent.objects.filter(conversation=conversation).count() == 1
        assert owner is not None
        services.resolve_conversation(owner, conversation.pk)
        for agent, tab in zip(agents, tabs, strict=True):
            presence.console_closed(agent.pk, tab)


def test_two_conversations_waiting_at_the_same_moment_never_overfill_an_agent() -> None:
    bot = make_bot()
    set_policy(bot, max_open_per_agent=1)
    agent = make_agent(bot.organization)
    open_console_tab(agent)
    for _round in range(10):
        pair = [make_conversation(bot), make_conversation(bot)]
        moved = at_once(
            *((lambda c=c: services.request_handoff(c.pk, "customer_asked")) for c in pair)
        )
        assert moved == [True, True]
        owners = [_owner(c) for c in pair]
        assert sorted(owners, key=lambda o: o is None) == [agent, None], owners
        first = pair[owners.index(agent)]
        second = pair[1 - owners.index(agent)]
        services.resolve_conversation(agent, first.pk)  # its place goes to the other one
        assert _owner(second) == agent
        services.resolve_conversation(agent, second.pk)
