"""The deterministic rules: statements about the customer are remembered, questions are not."""

from __future__ import annotations

import csv

import pytest

from bots.topics.demo import BANKING77 as BANKING77_DIR
from memory.longterm.rules import extract_facts

BANKING77 = BANKING77_DIR


def facts(text: str) -> dict[str, str]:
    return {fact.key: fact.value for fact in extract_facts(text)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("My name is Ana Silva and my card hasn't arrived yet.", {"name": "Ana Silva"}),
        ("Hi, I'm Tom. I can't see my top-up.", {"name": "Tom"}),
        ("Please answer in French, my card was declined.", {"language": "French"}),
        ("My preferred language is Español.", {"language": "Spanish"}),
        ("I only speak German. Why was I charged a fee?", {"language": "German"}),
        ("Email me when my new card is on its way.", {"channel": "email"}),
        ("I'd prefer to be contacted by phone about the disputed payment.", {"channel": "phone"}),
        ("Text me please, I'm travelling.", {"channel": "sms"}),
        ("I'm on the Premium plan and was charged for an ATM withdrawal.", {"plan": "Premium"}),
        ("I just upgraded to Metal, where is my new card?", {"plan": "Metal"}),
        ("My Visa card was declined at the shop.", {"card": "Visa"}),
        (
            "My name is Ana. Please reply in Portuguese and email me, I'm on the Standard plan.",
            {"name": "Ana", "language": "Portuguese", "channel": "email", "plan": "Standard"},
        ),
    ],
)
def test_statements_about_the_customer_are_extracted(text: str, expected: dict[str, str]) -> None:
    assert facts(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # Real BANKING77 questions that mention a name, a channel or a card without stating one.
        "What do i have to do to change my name?",
        "I need to change my name since I got married",
        "Can I get a copy of the card by email?",
        "I would prefer a visa card",
        "Do you guys accept Visa or Mastercard?",
        "How do I get a visa card?",
    ],
)
def test_questions_about_a_topic_state_nothing(text: str) -> None:
    assert facts(text) == {}


def test_the_later_statement_of_a_key_wins_within_one_message() -> None:
    assert facts("I was on the Basic plan. Now I'm on the Premium plan.") == {"plan": "Premium"}


@pytest.mark.skipif(not BANKING77.exists(), reason="BANKING77 data not present")
def test_no_name_language_channel_or_plan_is_read_into_the_13k_banking77_questions() -> None:
    found: list[tuple[str, str]] = []
    for split in ("train.csv", "test.csv"):
        with open(BANKING77 / split, newline="", encoding="utf-8") as handle:
            for row in csv.reader(handle):
                for fact in extract_facts(row[0]):
                    if fact.key != "card":
                        found.append((row[0], fact.key))
    assert found == []
