"""Two pages side by side in a real browser (Debian's chromium): a customer in the widget and an
agent in the console, against the live platform (uvicorn, Celery `llm` worker, SmolLM2)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from accounts.models import Organization
from desk.models import AuditEvent, Csat
from memory.conversations.models import Conversation, Message
from tests.conftest import LivePlatform, make_bot, make_widget_key
from tests.desk.factories import PASSWORD, make_agent, manual_queue

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow]


def test_customer_asks_for_a_human_agent_claims_replies_hands_back_resolves_and_gets_csat(
    live_platform: LivePlatform, browser: Browser
) -> None:
    org = Organization.objects.create(name="Acme Bank (demo)", slug="demo")
    bot = make_bot(org, name="Acme test assistant", max_tokens=48)
    manual_queue(bot)  # the agent claims from the queue
    make_widget_key(bot, [live_platform.url])
    agent = make_agent(org)
    agent.first_name, agent.last_name = "Dana", "Reyes"
    agent.save(update_fields=["first_name", "last_name"])

    # The agent logs in through the form and watches the queue.
    agent_context = browser.new_context(viewport={"width": 1200, "height": 900})
    agent_context.set_default_timeout(30_000)
    console = agent_context.new_page()
    console.goto(live_platform.url + "/console/")
    console.get_by_label("Username").fill(agent.username)
    console.get_by_label("Password").fill(PASSWORD)
    console.get_by_role("button", name="Log in").click()
    waiting = console.get_by_test_id("waiting")
    expect(waiting).to_contain_text("Nobody is waiting.")
    expect(console.locator("#live.on")).to_be_visible()

    # The customer opens the widget on the demo page and asks for a human.
    customer_context = browser.new_context(viewport={"width": 1100, "height": 800})
    customer_context.set_default_timeout(30_000)
    customer = customer_context.new_page()
    customer.goto(live_platform.url + "/")
    customer.get_by_role("button", name="Open chat", exact=True).click()
    customer.get_by_role("button", name="Talk to a human", exact=True).click()
    expect(customer.get_by_role("status").filter(has_text="in line")).to_have_text(
        "Waiting for a person — you're number 1 in line."
    )
    conversation = Conversation.objects.get(bot=bot)

    # It appears in the console's queue without a reload; the agent claims it.
    entry = waiting.locator(f'li[data-id="{conversation.pk}"]')
    expect(entry).to_be_visible()
    entry.get_by_role("button", name="Claim").click()
    console.wait_for_url(f"**/console/c/{conversation.pk}/")
    expect(console.get_by_test_id("status")).to_have_text("agent")
    expect(customer.get_by_role("status").filter(has_text="joined")).to_have_text(
        "Dana Reyes joined the chat."
    )

    # The agent's reply reaches the widget live.
    console.get_by_test_id("reply").fill("Hello, I'm Dana. How can I help?")
    console.get_by_test_id("send").click()
    agent_bubble = customer.locator('[data-role="agent"]')
    expect(agent_bubble).to_contain_text("Hello, I'm Dana. How can I help?")

    # Hand back: the bot answers the customer's next message, live in both pages.
    console.get_by_test_id("hand-back").click()
    expect(console.get_by_test_id("status")).to_have_text("bot")
    expect(customer.get_by_role("status").filter(has_text="back with")).to_be_visible()
    box = customer.get_by_role("textbox", name="Message", exact=True)
    box.fill("What are your opening hours?")
    box.press("Enter")
    bot_bubble = customer.locator('[data-role="bot"][data-status="final"]')
    expect(bot_bubble).to_have_count(1, timeout=300_000)
    bot_reply = Message.objects.get(conversation=conversation, role="bot")
    assert bot_reply.status == "final" and bot_reply.text
    expect(console.locator('#messages li[data-role="bot"][data-status="final"]')).to_have_count(1)
    expect(console.locator("#messages")).to_contain_text("What are your opening hours?")

    # The agent takes it again and resolves; the customer rates it.
    console.get_by_test_id("claim").click()
    expect(console.get_by_test_id("status")).to_have_text("agent")
    console.get_by_test_id("resolve").click()
    expect(console.get_by_test_id("status")).to_have_text("resolved")
    survey = customer.get_by_role("form", name="Rate this conversation")
    survey.get_by_role("button", name="5 out of 5").click()
    survey.get_by_role("textbox", name="Comment (optional)").fill("Dana was great.")
    survey.get_by_role("button", name="Submit rating").click()
    expect(customer.get_by_text("Thanks for rating us (5/5)!")).to_be_visible()

    csat = Csat.objects.get(conversation=conversation)
    assert (csat.score, csat.comment, csat.agent) == (5, "Dana was great.", agent)
    actions = list(
        AuditEvent.objects.filter(conversation=conversation)
        .order_by("created_at")
        .values_list("action", flat=True)
    )
    assert actions == ["claim", "message", "hand_back", "claim", "resolve"]
    agent_context.close()
    customer_context.close()
