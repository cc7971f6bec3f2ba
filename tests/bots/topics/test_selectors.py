"""`wants_human`: the deterministic "let me talk to a person" detector the handoff rules use."""

from __future__ import annotations

import pytest

from bots.topics.selectors import wants_human

ASKS_FOR_A_PERSON = [
    "Can I talk to a human?",
    "I want to speak to a real person",
    "human please",
    "AGENT!!",
    "Representative",
    "connect me with an agent",
    "Please transfer me to customer service",
    "let me speak with someone",
    "I need a live agent now",
    "I don't want to talk to a bot",
    "no, not the bot. Let me chat with your support team",
    "Could you put me through to an operator?",
    "I\u2019d like to speak to a supervisor",
    "get me a human",
]

DOES_NOT = [
    "How do I transfer money to another person?",
    "I don't need an agent, just tell me the fee",
    "Are you a bot?",
    "My card hasn't arrived",
    "Can someone else use my card?",
    "What is the exchange rate for a human-readable statement?",
    "Send money to people abroad",
    "Thanks, that helped!",
    "",
]


@pytest.mark.parametrize("text", ASKS_FOR_A_PERSON)
def test_a_request_for_a_person_is_recognised(text: str) -> None:
    assert wants_human(text)


@pytest.mark.parametrize("text", DOES_NOT)
def test_ordinary_questions_and_negations_are_not_requests_for_a_person(text: str) -> None:
    assert not wants_human(text)
