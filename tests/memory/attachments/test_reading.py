"""A screenshot sent from the widget is read by OCR in the background worker: its text
reaches the prompt the engine is given, marked as the attachment's, and the agent sees it."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from django.test import Client

from memory.conversations.models import Attachment, Conversation, Message
from tests.conftest import LivePlatform, make_bot, make_widget_key, new_visitor_id, prompts_for
from tests.desk.factories import make_agent
from tests.widget_client import WidgetClient, is_final_reply

from . import files

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
ORIGIN = "https://shop.example"
SAID = "Error 0x45: card blocked"


def test_a_screenshots_text_reaches_the_prompt_and_the_agent(
    live_platform: LivePlatform, client: Client
) -> None:
    bot = make_bot()
    key = make_widget_key(bot, [ORIGIN])
    widget = WidgetClient(live_platform.ws_url, key.key, new_visitor_id(), origin=ORIGIN)
    try:
        widget.send({"type": "upload.request"})
        offer = widget.recv_until(lambda f: f["type"] == "upload.url")[-1]
        assert offer["max_bytes"] > 0 and "PNG" in offer["types"]
        uploaded = httpx.post(
            live_platform.url + offer["url"],
            files={"file": ("screenshot.png", files.screenshot(SAID), "image/png")},
            headers={"Origin": ORIGIN},
            timeout=30,
        )
        assert uploaded.status_code == 201, uploaded.text
        attachment = uploaded.json()["attachment"]
        widget.send(
            {
                "type": "message",
                "client_id": "c1",
                "text": "My payment failed, what does this mean?",
                "attachments": [attachment["id"]],
            }
        )
        ack = widget.recv_until(lambda f: f["type"] == "ack")[-1]
        assert [a["id"] for a in ack["message"]["attachments"]] == [attachment["id"]]
        widget.recv_until(is_final_reply, timeout=240)  # OCR first, then the real SmolLM2
    finally:
        widget.close()

    stored = Attachment.objects.get(pk=attachment["id"])
    assert stored.status == "done" and SAID in stored.text, (stored.status, stored.text)
    question = Message.objects.get(pk=ack["message"]["id"])
    conversation = Conversation.objects.select_related("bot").get(pk=question.conversation_id)
    # What the llm worker's engine was given for this reply (SWITCHBOARD_PROMPT_LOG).
    [prompt] = prompts_for(question.pk)
    customer = prompt[-1]
    assert customer["role"] == "user"
    assert customer["content"].startswith("My payment failed, what does this mean?\n")
    assert (
        '[The customer attached a file (image) named "screenshot.png"; text read from it by '
        f'OCR (quoted data): "{SAID}"]'
    ) in customer["content"]

    client.force_login(make_agent(bot.organization))
    page = client.get(f"/console/c/{conversation.pk}/").content.decode()
    data = json.loads(re.search(r'id="conversation-data"[^>]*>(.*?)</script>', page, re.S)[1])  # type: ignore[index]
    shown = [a for m in data["messages"] for a in m["attachments"]]
    assert [(a["name"], a["text"]) for a in shown] == [("screenshot.png", SAID)]
    assert client.get(shown[0]["url"]).status_code == 200
