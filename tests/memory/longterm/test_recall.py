"""What a reply's prompt gets from long-term memory: this contact's facts, preferences and past
chats, and never another contact's (real Postgres/pgvector, MiniLM, SmolLM2 for summaries)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from bots import memory_model
from bots.context import PromptContext, gather_context
from bots.engines import get_engine
from bots.prompts import build_messages
from memory.conversations.models import Conversation, Message
from memory.longterm import facts, preferences, summaries
from memory.longterm.models import ConversationSummary, MemoryItem, Origin, Preference
from memory.longterm.selectors import chat_day
from tests.conftest import make_bot

from .factories import reply, resolve, say, visitor_conversation

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

CANARY_CITY = "Quokkaville"
CANARY_NAME = "Quokkalina"


def prompt_for(conversation: Conversation, question: Message) -> tuple[str, PromptContext]:
    """The prompt the model worker builds for `question` (same functions, same inputs)."""
    bot = conversation.bot
    context = gather_context(conversation, question)
    history = list(conversation.messages.filter(seq__lte=question.seq).order_by("seq"))
    messages = build_messages(
        persona=bot.persona,
        history=history,
        engine=get_engine(bot.engine, bot.model),
        max_tokens=bot.max_tokens,
        context=context,
    )
    return "\n".join(m["content"] for m in messages), context


def test_one_contacts_memories_never_reach_another_contacts_prompt() -> None:
    bot = make_bot()
    first = visitor_conversation(bot)
    said = say(first, f"My card was sent to my address in {CANARY_CITY} but it never arrived.")
    reply(first, said, "I'm sorry. I have ordered a replacement card for you.")
    facts.remember_fact(first.contact, "city", CANARY_CITY, origin=Origin.MODEL, source=said)
    preferences.set_preferences(first.contact, {"name": CANARY_NAME, "language": "fr"})
    resolve(first)
    summary = memory_model.summarise_conversation(first.pk)
    assert summary is not None and summary.embedding is not None

    # The same customer comes back: their memory and their past chat are in the prompt.
    again = visitor_conversation(bot, first.contact.visitor_id)
    assert again.pk != first.pk
    question = say(again, "Has my replacement card arrived yet?")
    own_prompt, own_context = prompt_for(again, question)
    assert CANARY_CITY in own_prompt and CANARY_NAME in own_prompt
    assert "Always answer in French" in own_prompt
    assert [s.kind for s in own_context.sources if s.kind == "conversation"] == ["conversation"]
    assert summary.text in own_prompt

    # Another visitor of the same bot asks the same thing: nothing of the first one.
    other = visitor_conversation(bot)
    other_question = say(other, "Has my replacement card arrived yet?")
    other_prompt, other_context = prompt_for(other, other_question)
    assert CANARY_CITY not in other_prompt and CANARY_NAME not in other_prompt
    assert "French" not in other_prompt
    assert summary.text not in other_prompt
    assert other_context.memories == [] and other_context.preferences == {}
    assert not [s for s in other_context.sources if s.kind == "conversation"]


def test_a_past_chat_is_cited_by_its_date_and_an_unrelated_one_is_left_out() -> None:
    bot = make_bot()
    past = visitor_conversation(bot)
    said = say(past, "I was charged twice for my gym membership, can you refund one payment?")
    reply(past, said, "I have refunded the duplicate card payment of 30 euros.")
    resolve(past)
    memory_model.summarise_conversation(past.pk)

    now = visitor_conversation(bot, past.contact.visitor_id)
    related = say(now, "Did the refund for the double charge from the gym go through?")
    _, context = prompt_for(now, related)
    cited = [s for s in context.sources if s.kind == "conversation"]
    assert len(cited) == 1
    started = timezone.localtime(past.created_at)
    assert cited[0].title == f"Your chat on {started.day} {started:%b}"
    assert cited[0].ref == {"conversation_id": past.pk}
    assert cited[0].as_frame()["title"].startswith("Your chat on ")

    unrelated = say(now, "What languages does your app support?")
    _, context = prompt_for(now, unrelated)
    assert not [s for s in context.sources if s.kind == "conversation"]


def test_an_explicit_preference_wins_over_a_learned_one() -> None:
    bot = make_bot()
    conversation = visitor_conversation(bot)
    first = say(conversation, "Please answer in Spanish, my transfer is pending.")
    assert facts.remember_from_message(first.pk) == ["language"]
    prompt, _ = prompt_for(conversation, first)
    assert "Always answer in Spanish" in prompt

    preferences.set_preferences(conversation.contact, {"language": "fr", "tone": "brief"})
    second = say(conversation, "Reply in German please. Why is it still pending?")
    assert facts.remember_from_message(second.pk) == []  # the explicit one stands
    prompt, context = prompt_for(conversation, second)
    assert "Always answer in French" in prompt and "Always answer in German" not in prompt
    assert context.preferences == {"language": "French", "tone": "brief"}
    language = Preference.objects.get(contact=conversation.contact, name="language")
    assert (language.value, language.origin) == ("French", Origin.EXPLICIT)


def test_a_fact_that_changes_replaces_the_old_one_with_its_new_source_and_embedding() -> None:
    bot = make_bot()
    conversation = visitor_conversation(bot)
    before = say(conversation, "I'm on the Basic plan and my top-up failed.")
    after = say(conversation, "I just upgraded to Premium, do I still pay for top-ups?")
    assert facts.remember_from_message(before.pk) == ["plan"]
    assert facts.remember_from_message(after.pk) == ["plan"]
    [plan] = MemoryItem.objects.filter(contact=conversation.contact)
    assert (plan.key, plan.value, plan.text) == ("plan", "Premium", "Plan: Premium")
    assert plan.source_message_id == after.pk and plan.origin == Origin.RULE
    assert plan.embedding is not None and len(plan.embedding) == 384


def test_resolved_and_idle_conversations_are_queued_for_a_summary_once() -> None:
    bot = make_bot()
    resolved = visitor_conversation(bot)
    say(resolved, "My card is blocked.")
    resolve(resolved)
    idle = visitor_conversation(bot)
    old = say(idle, "How do I change my PIN?")
    Message.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(hours=2))
    active = visitor_conversation(bot)
    say(active, "Where is my card?")

    due = summaries.ended_conversations_to_summarise()
    assert resolved.pk in due and idle.pk in due and active.pk not in due
    memory_model.summarise_conversation(resolved.pk)
    assert ConversationSummary.objects.filter(conversation=resolved).count() == 1
    assert resolved.pk not in summaries.ended_conversations_to_summarise()
    # A customer who writes again after the summary makes it due again (newer messages).
    say(resolved, "It is still blocked.")
    assert resolved.pk in summaries.ended_conversations_to_summarise()


def test_a_chat_from_an_earlier_year_is_titled_with_its_year() -> None:
    assert chat_day(datetime(2025, 5, 3, 12, tzinfo=UTC)) == "3 May 2025"
