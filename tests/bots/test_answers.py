"""Answers a customer can trust, on the real SmolLM2 and MiniLM through the widget socket: the
figure the question asks for, from the article it cites; no figure from nowhere; no loop.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from bots.demo.knowledge import ARTICLES, article_markdown
from bots.grounding import figures
from bots.models import Bot
from memory.knowledge.models import Chunk
from memory.knowledge.services import add_document
from tests.conftest import LivePlatform, make_bot, make_widget_key, new_visitor_id
from tests.memory.knowledge.documents import wait_until_ingested
from tests.widget_client import WidgetClient, is_final_reply

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# Question -> (the article that answers it, the figures the answer must state).
ASKED = {
    "How much does express card delivery cost?": ("card_delivery_estimate", {"15"}),
    "What's the fee for taking cash out of an ATM?": ("cash_withdrawal_charge", {"200", "2"}),
    "How old must I be to open an account?": ("age_limit", {"18"}),
    "Is there a charge when I exchange currency?": ("exchange_charge", {"0.5"}),
    "What is the most I can top up in a year?": ("top_up_limits", {"100000"}),
}
OTHERS = ["card_arrival", "exchange_rate", "top_up_by_card_charge", "top_up_reverted"]


def bank_bot(**fields: Any) -> Bot:
    bot = make_bot(max_tokens=160, **fields)
    for intent in [*(intent for intent, _ in ASKED.values()), *OTHERS]:
        title, body = ARTICLES[intent]
        document = add_document(
            bot, kind="markdown", title=title, body=article_markdown(title, body), key=intent
        )
        assert wait_until_ingested(document).status == "ready"
    return bot


def ask(live_platform: LivePlatform, bot: Bot, text: str) -> dict[str, Any]:
    client = WidgetClient(live_platform.ws_url, make_widget_key(bot).key, new_visitor_id())
    client.resume(0)
    client.send({"type": "message", "client_id": "q", "text": text})
    final: dict[str, Any] = client.recv_until(is_final_reply, timeout=240)[-1]["message"]
    client.close()
    return final


def loops(text: str) -> bool:
    words = re.findall(r"\w+", text.lower())
    runs = [tuple(words[i : i + 5]) for i in range(len(words) - 4)]
    return any(runs.count(run) >= 3 for run in runs)


def test_a_fee_or_limit_question_gets_that_figure_from_the_article_it_cites(
    live_platform: LivePlatform,
) -> None:
    bot = bank_bot()
    for question, (intent, wanted) in ASKED.items():
        final = ask(live_platform, bot, question)
        title = ARTICLES[intent][0]
        assert final["status"] == "final", (question, final)
        assert final["sources"] and final["sources"][0]["title"] == title, (question, final)
        assert wanted <= figures(final["text"]), (question, final["text"])
        assert not loops(final["text"]) and len(final["text"].split()) <= 120, final["text"]


@pytest.mark.parametrize("style", ["quoted", "generated"])
def test_no_reply_states_a_figure_found_in_neither_its_sources_nor_the_conversation(
    live_platform: LivePlatform, style: str
) -> None:
    """Whichever way the reply is written: SmolLM2 writing on its own invented fees and phone
    numbers before the guard (issue #10); the guard stops a reply before such a figure."""
    bot = bank_bot(answer_style=style)
    questions = [
        *ASKED,
        "What number do I call if an ATM kept my card?",
        "How many percent interest do I get on savings?",
    ]
    for question in questions:
        final = ask(live_platform, bot, question)
        given = "\n".join(
            Chunk.objects.get(pk=s["chunk_id"]).text for s in final["sources"] if s.get("chunk_id")
        )
        invented = figures(final["text"]) - figures(f"{given}\n{question}\n{bot.persona}")
        assert not invented, (question, final["text"], invented)
        assert not loops(final["text"]), final["text"]
