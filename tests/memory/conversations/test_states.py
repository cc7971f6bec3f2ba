"""The conversation's state machine (memory.conversations.states): each move goes only from the
states its table names, an illegal one changes nothing, and racing takers get one owner."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import transaction

from bots.models import Bot
from memory.conversations import states
from memory.conversations.models import Conversation, Message
from memory.conversations.services import allocate_seq
from memory.conversations.states import Conflict, Move
from tests.conftest import make_bot
from tests.desk.factories import make_agent, make_conversation
from tests.desk.threads import at_once

pytestmark = pytest.mark.django_db(transaction=True)

Status = Conversation.Status


def _in_state(bot: Bot, status: str, owner: User) -> Conversation:
    conversation = make_conversation(bot, status=status)
    if status == Status.AGENT:
        Conversation.objects.filter(pk=conversation.pk).update(assignee=owner)
    return conversation


def _make(move: Move, conversation: Conversation, owner: User, other: User) -> bool:
    with transaction.atomic():
        if move == Move.HAND_OFF:
            return states.hand_off(conversation.pk, "customer_asked") is not None
        if move == Move.TAKE:
            return states.take(conversation, other)
        if move == Move.TRANSFER:
            return states.transfer(conversation, owner, other)
        if move == Move.HAND_BACK:
            return states.hand_back(conversation, owner)
        if move == Move.RESOLVE:
            return states.resolve(conversation, owner)
        return states.reopen(conversation.pk)


@pytest.mark.parametrize("move", list(Move))
def test_each_move_goes_only_from_the_states_its_table_names(move: Move) -> None:
    bot = make_bot()
    owner, other = make_agent(bot.organization), make_agent(bot.organization)
    for status in Status.values:
        conversation = _in_state(bot, status, owner)
        moved = _make(move, conversation, owner, other)
        conversation.refresh_from_db()
        rule = states.MOVES[move]
        assert moved == states.allowed(move, status) == (status in rule.sources), (move, status)
        assert conversation.status == (rule.target if moved else status), (move, status)
        if moved and rule.target == Status.AGENT:
            assert conversation.assignee == other  # taken by, or transferred to, the other
        elif moved and move == Move.RESOLVE:
            # The resolver stays named: the customer's CSAT score is theirs.
            assert (conversation.assignee, conversation.resolved_at is not None) == (owner, True)
        elif moved:
            assert conversation.assignee is None


def test_the_whole_trip_bot_waiting_agent_transfer_resolved_reopened() -> None:
    bot = make_bot()
    first, second = make_agent(bot.organization), make_agent(bot.organization)
    conversation = make_conversation(bot)
    trip = []
    with transaction.atomic():
        assert states.hand_off(conversation.pk, "customer_asked") is not None
        trip.append(Conversation.objects.get(pk=conversation.pk).status)
        assert states.take(conversation, first)
        trip.append(Conversation.objects.get(pk=conversation.pk).status)
        assert states.transfer(conversation, first, second)
        assert not states.resolve(conversation, first)  # the giver owns it no more
        assert states.resolve(conversation, second)
        trip.append(Conversation.objects.get(pk=conversation.pk).status)
        assert states.reopen(conversation.pk)
    conversation.refresh_from_db()
    assert trip == ["waiting", "agent", "resolved"]
    assert (conversation.status, conversation.assignee, conversation.resolved_at) == (
        "bot",
        None,
        None,
    )
    assert conversation.handoff_reason == "customer_asked"


def test_an_agent_who_does_not_own_it_can_neither_write_nor_move_it() -> None:
    bot = make_bot()
    owner, other = make_agent(bot.organization), make_agent(bot.organization)
    conversation = _in_state(bot, Status.AGENT, owner)
    with transaction.atomic():
        assert not states.take(conversation, other)  # someone owns it: no takeover
        assert not states.transfer(conversation, other, other)
        assert not states.hand_back(conversation, other)
        assert not states.resolve(conversation, other)
    with pytest.raises(Conflict):
        states.post_agent_message(conversation.pk, other, "not mine to answer")
    message = states.post_agent_message(conversation.pk, owner, "Hi, I'm here to help.")
    assert (message.role, message.author, message.seq) == ("agent", owner, 1)
    conversation.refresh_from_db()
    assert (conversation.status, conversation.assignee) == ("agent", owner)
    assert list(conversation.messages.values_list("text", flat=True)) == ["Hi, I'm here to help."]


def test_a_resolved_conversation_takes_no_agent_message_without_a_claim() -> None:
    bot = make_bot()
    owner = make_agent(bot.organization)
    conversation = _in_state(bot, Status.AGENT, owner)
    with transaction.atomic():
        assert states.resolve(conversation, owner)
    with pytest.raises(Conflict):
        states.post_agent_message(conversation.pk, owner, "one more thing")
    with transaction.atomic():
        assert not states.take(conversation, owner)  # resolved is not claimable
    assert not Message.objects.filter(conversation=conversation).exists()


def test_an_integration_writes_only_while_the_conversation_waits_for_an_agent() -> None:
    bot = make_bot()
    owner = make_agent(bot.organization)
    for status in Status.values:
        conversation = _in_state(bot, status, owner)
        if status == Status.WAITING:
            message = states.post_integration_message(conversation.pk, "from the CRM")
            assert (message.role, message.author, message.text) == ("agent", None, "from the CRM")
        else:
            with pytest.raises(Conflict):
                states.post_integration_message(conversation.pk, "from the CRM")
            assert not conversation.messages.exists(), status


def test_two_agents_taking_at_the_same_moment_exactly_one_wins() -> None:
    bot = make_bot()
    agents = [make_agent(bot.organization) for _ in range(3)]
    for status in (Status.BOT, Status.WAITING) * 4:
        conversation = make_conversation(bot, status=status)

        def take(agent: User, conversation: Conversation = conversation) -> bool:
            with transaction.atomic():
                return states.take(conversation, agent)

        results = at_once(*(lambda agent=agent: take(agent) for agent in agents))
        assert sorted(results) == [False, False, True], results
        conversation.refresh_from_db()
        assert (conversation.status, conversation.assignee) == (
            "agent",
            agents[results.index(True)],
        )


@pytest.mark.parametrize("move", [Move.TAKE, Move.HAND_OFF])
def test_a_takeover_or_handoff_cuts_the_bot_reply_in_flight(move: Move) -> None:
    bot = make_bot()
    owner, agent = make_agent(bot.organization), make_agent(bot.organization)
    conversation = make_conversation(bot)
    with transaction.atomic():
        reply = Message.objects.create(
            conversation=conversation,
            seq=allocate_seq(conversation.pk),
            role=Message.Role.BOT,
            text="Our opening hours are",
            status=Message.Status.STREAMING,
            lease_token="worker-1",
        )
    assert _make(move, conversation, owner, agent)
    reply.refresh_from_db()
    assert (reply.status, reply.text, reply.error, reply.lease_token) == (
        "final",
        "Our opening hours are",
        states.CUT_NOTE,
        "",
    )
