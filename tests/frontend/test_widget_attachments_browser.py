"""Attachments in the widget, in a real browser (Debian's chromium through Playwright), with
the keyboard only: attaching a screenshot through the attach control and by pasting it, its
thumbnail in the thread, the OCR text reaching the prompt the engine is given and the agent;
a voice note recorded from chromium's fake microphone (an espeak-ng recording) and
transcribed by Whisper tiny.en.

Against the live platform: uvicorn, the background worker (RapidOCR, Whisper) and the `llm`
worker (SmolLM2) on the test database.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from playwright.sync_api import Browser, Page, expect

from desk.services import claim_conversation, send_agent_message
from memory.conversations.models import Attachment, Conversation, Message
from tests.browser import chromium
from tests.conftest import LivePlatform, prompts_for
from tests.desk.factories import make_agent
from tests.memory.attachments import files

from .test_widget_browser import demo_bot, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow]

SAID = "Error 0x45: card blocked"
# Spoken by espeak-ng (US English, 120 words a minute, 100 ms between words) for chromium's
# fake microphone; short enough to be said within the three seconds recorded. Whisper's
# accuracy on longer sentences: tests/memory/attachments/test_transcripts.py.
VOICE_NOTE = "I forgot my password"
VOICE_KEY_WORDS = ("forgot", "password")

FOCUSED_NAME = """() => {
  const el = document.querySelector("switchboard-widget").shadowRoot.activeElement;
  return el ? (el.getAttribute("aria-label") || el.textContent || el.tagName) : null;
}"""
THUMBNAILS = """() => [...document.querySelector("switchboard-widget").shadowRoot
  .querySelectorAll('[data-role="user"] .files img')]
  .map((img) => ({alt: img.alt, loaded: img.complete && img.naturalWidth > 0}))"""


def tab_to(page: Page, name: str, backwards: bool = False, presses: int = 25) -> None:
    """Tab (or Shift+Tab) until the widget's control named `name` has the focus."""
    for _ in range(presses):
        if page.evaluate(FOCUSED_NAME) == name:
            return
        page.keyboard.press("Shift+Tab" if backwards else "Tab")
    last = page.evaluate(FOCUSED_NAME)
    raise AssertionError(f"{name!r} never got the focus by Tab; last: {last}")


@pytest.fixture(scope="module")
def voice_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What the fake microphone says: espeak-ng, slow and clear (US English)."""
    path = tmp_path_factory.mktemp("voice") / "voice.wav"
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "120", "-g", "10", "-w", str(path), VOICE_NOTE],
        check=True,
    )
    return path


@pytest.fixture(scope="module")
def browser(voice_wav: Path) -> Iterator[Browser]:
    """Chromium whose fake microphone says VOICE_NOTE, once."""
    with chromium(
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={voice_wav}%noloop",
    ) as launched:
        yield launched


def open_widget_by_keyboard(page: Page, url: str) -> None:
    page.goto(url + "/")
    page.locator("body").focus()
    tab_to(page, "Open chat")
    page.keyboard.press("Enter")
    expect(page.get_by_role("textbox", name="Message", exact=True)).to_be_focused()


def test_a_screenshot_attached_and_pasted_by_keyboard_shows_as_a_thumbnail_and_its_text_reaches_the_agent(  # noqa: E501
    live_platform: LivePlatform, browser: Browser, tmp_path: Path, client: Client
) -> None:
    bot, _key = demo_bot(live_platform)
    shot = tmp_path / "screenshot.png"
    shot.write_bytes(files.screenshot(SAID))
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_platform.url)
    context.set_default_timeout(30_000)
    page = context.new_page()
    # Listening from the start: Playwright turns on its interception of file pickers
    # without waiting for the browser, so `expect_file_chooser` alone around the key press
    # raced it on the loaded machine (the picker opened unseen, once in five runs).
    page.on("filechooser", lambda _chooser: None)
    csp_errors: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and csp_errors.append(m.text))
    try:
        open_widget_by_keyboard(page, live_platform.url)
        # The limits are shown before a file is chosen, and describe the attach control.
        attach = page.get_by_role("button", name="Attach a file", exact=True)
        expect(attach).to_have_accessible_description(re.compile(r"PNG.*up to 10 MB each"))
        expect(page.get_by_text(re.compile(r"You can attach PNG"))).to_be_visible()

        # 1. The attach control, from the keyboard.
        tab_to(page, "Attach a file", backwards=True)
        with page.expect_file_chooser() as chooser:
            page.keyboard.press("Enter")
        chooser.value.set_files(str(shot))
        expect(page.get_by_text("screenshot.png (ready)")).to_be_visible(timeout=30_000)
        tab_to(page, "Message")
        page.keyboard.type("My payment failed, what does this mean?")
        page.keyboard.press("Enter")
        expect(page.get_by_role("img", name="Image: screenshot.png")).to_be_visible()
        wait_until(lambda: all(t["loaded"] for t in page.evaluate(THUMBNAILS)), timeout=20)
        # Its reply waited for the OCR: the text is in what the llm worker's engine is given
        # (before an agent takes over below, which ends the bot's replies).
        asked = wait_until(
            lambda: Message.objects.filter(conversation__bot=bot, role="user").first()
        )
        prompt = wait_until(lambda: prompts_for(asked.pk), timeout=120)[0]
        read = f'named "screenshot.png"; text read from it by OCR (quoted data): "{SAID}"'
        assert any(read in m["content"] for m in prompt if m["role"] == "user"), prompt

        # 2. Pasting a screenshot into the message box (Ctrl+V from the clipboard).
        expect(page.get_by_role("textbox", name="Message", exact=True)).to_be_focused()
        page.evaluate(
            """async (b64) => {
              const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
              const blob = new Blob([bytes], {type: "image/png"});
              await navigator.clipboard.write([new ClipboardItem({"image/png": blob})]);
            }""",
            base64.b64encode(files.screenshot(SAID)).decode(),
        )
        page.keyboard.press("Control+V")
        expect(page.get_by_text(re.compile(r"\.png \(ready\)"))).to_be_visible(timeout=30_000)
        expect(page.get_by_role("textbox", name="Message", exact=True)).to_have_value("")
        page.keyboard.press("Enter")  # a file alone is a message
        wait_until(lambda: len(page.evaluate(THUMBNAILS)) == 2, timeout=20)
        wait_until(lambda: all(t["loaded"] for t in page.evaluate(THUMBNAILS)), timeout=20)

        # 3. An agent takes over and replies with a file (the console's upload): the
        # customer sees it in the thread.
        conversation = Conversation.objects.get(bot=bot)
        agent = make_agent(bot.organization)
        claim_conversation(agent, conversation.pk)
        client.force_login(agent)
        uploaded = client.post(
            f"/console/c/{conversation.pk}/uploads",
            {"file": SimpleUploadedFile("how-it-looks.png", files.screenshot("Card active"))},
        )
        assert uploaded.status_code == 201, uploaded.content
        send_agent_message(
            agent,
            conversation.pk,
            "This is what it looks like now.",
            attachment_ids=[uploaded.json()["attachment"]["id"]],
        )
        agents_image = page.locator('[data-role="agent"]').get_by_role(
            "img", name="Image: how-it-looks.png"
        )
        expect(agents_image).to_be_visible()
        wait_until(  # loaded, not only laid out
            lambda: page.evaluate(
                """() => [...document.querySelector("switchboard-widget").shadowRoot
                  .querySelectorAll('[data-role="agent"] .files img')]
                  .every((img) => img.complete && img.naturalWidth > 0)"""
            ),
            timeout=20,
        )
        assert not csp_errors, csp_errors
    finally:
        context.close()

    # Both were read by OCR in the background worker, linked to the customer's messages.
    def read() -> list[Attachment]:
        rows = list(Attachment.objects.filter(conversation__bot=bot, role="user").order_by("pk"))
        return rows if len(rows) == 2 and all(a.status == "done" for a in rows) else []

    shots = wait_until(read, timeout=120)
    assert all(SAID in a.text for a in shots), [a.text for a in shots]
    assert all(a.message is not None and a.message.role == Message.Role.USER for a in shots)
    assert shots[0].message.text == "My payment failed, what does this mean?"  # type: ignore[union-attr]
    assert shots[1].message.text == ""  # type: ignore[union-attr]

    # The agent sees them with their text on the console.
    conversation_id = shots[0].conversation_id
    page_html = client.get(f"/console/c/{conversation_id}/").content.decode()
    data = json.loads(
        re.search(r'id="conversation-data"[^>]*>(.*?)</script>', page_html, re.S)[1]  # type: ignore[index]
    )
    shown = [a for m in data["messages"] if m["role"] == "user" for a in m["attachments"]]
    assert [a["text"] for a in shown] == [SAID, SAID]


def test_a_voice_note_recorded_by_keyboard_is_transcribed(
    live_platform: LivePlatform, browser: Browser
) -> None:
    bot, _key = demo_bot(live_platform)
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    context.grant_permissions(["microphone"], origin=live_platform.url)
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        open_widget_by_keyboard(page, live_platform.url)
        tab_to(page, "Record a voice note", backwards=True)
        page.keyboard.press("Enter")
        stop = page.get_by_role("button", name="Stop recording", exact=True)
        expect(stop).to_be_focused()
        timer = page.get_by_role("timer", name="Recording time")
        expect(timer).to_have_text("0:03", timeout=10_000)  # the clock runs, visibly
        page.keyboard.press("Enter")
        expect(page.get_by_role("button", name="Record a voice note")).to_be_focused()
        expect(page.get_by_text(re.compile(r"voice-note\.(webm|ogg) \(ready\)"))).to_be_visible()
        tab_to(page, "Message")
        page.keyboard.press("Enter")
        player = page.locator("switchboard-widget audio")
        expect(player).to_have_count(1)
        expect(player).to_have_accessible_name(re.compile(r"Voice note: voice-note\."))
    finally:
        context.close()

    note = wait_until(
        lambda: (
            Attachment.objects.filter(conversation__bot=bot, status__in=["done", "failed"])
            .select_related("message")
            .first()
        ),
        timeout=120,
    )
    assert note.kind == "audio" and note.status == "done", (note.status, note.error)
    assert note.message is not None
    words = re.findall(r"[a-z']+", note.text.lower())  # Whisper punctuates: "password."
    assert all(w in words for w in VOICE_KEY_WORDS), note.text
