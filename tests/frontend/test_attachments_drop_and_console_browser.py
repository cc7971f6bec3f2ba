"""Attachments in a real browser (Debian's chromium through Playwright), continued: files
dragged from the desktop and dropped on the widget (kept ones sent, refused ones explained and
left out), and an agent on the console attaching files to a reply with the keyboard only, which
the customer's widget and the console both show.

Against the live platform: uvicorn, the background worker (RapidOCR, pypdf) and the `llm`
worker (SmolLM2) on the test database.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from desk.services import claim_conversation
from memory.conversations.models import Attachment, Conversation
from tests.conftest import LivePlatform
from tests.desk.factories import PASSWORD, make_agent, manual_queue
from tests.memory.attachments import files
from tests.memory.knowledge.documents import pdf_bytes

from .test_widget_attachments_browser import open_widget_by_keyboard
from .test_widget_browser import demo_bot, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow]

SAID = "Error 0x45: card blocked"
# Every thumbnail in one party's messages has loaded (not only been laid out).
LOADED = """(sel) => {
  const host = document.querySelector("switchboard-widget");
  const imgs = [...(host ? host.shadowRoot : document).querySelectorAll(sel)];
  return imgs.length > 0 && imgs.every((img) => img.complete && img.naturalWidth > 0);
}"""
# The element has the focus and shows it (a focus ring the agent can see).
FOCUS_SHOWN = """(el) => {
  const style = getComputedStyle(el);
  return el === document.activeElement && el.matches(":focus-visible")
    && style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
}"""


@contextmanager
def dragging_files(page: Page, target: Locator, paths: list[Path]) -> Iterator[None]:
    """Files dragged in from outside the browser and held over `target`, then let go: trusted
    dragenter, dragover and drop events carrying the files, as chromium gets a drag from the
    desktop (the DevTools protocol's Input.dispatchDragEvent). A page that does not accept
    the drag on dragover gets no drop, as with a real one."""
    box = target.bounding_box()
    assert box is not None, "the drop target is not on screen"
    at = {"x": box["x"] + box["width"] / 2, "y": box["y"] + box["height"] / 2}
    data = {"items": [], "files": [str(p) for p in paths], "dragOperationsMask": 1}
    cdp = page.context.new_cdp_session(page)
    try:
        for kind in ("dragEnter", "dragOver"):
            cdp.send("Input.dispatchDragEvent", {"type": kind, **at, "data": data})
        yield
        cdp.send("Input.dispatchDragEvent", {"type": "drop", **at, "data": data})
    finally:
        cdp.detach()


def drop_files(page: Page, target: Locator, paths: list[Path]) -> None:
    with dragging_files(page, target, paths):
        pass


def test_a_file_dropped_on_the_widget_is_sent_with_the_message_and_a_refused_one_says_why(
    live_platform: LivePlatform, browser: Browser, tmp_path: Path
) -> None:
    bot, _key = demo_bot(live_platform)
    shot = tmp_path / "screenshot.png"
    shot.write_bytes(files.screenshot(SAID, (640, 360)))
    svg = tmp_path / "logo.svg"
    svg.write_bytes(files.SVG_WITH_SCRIPT)
    big = tmp_path / "huge.png"
    with big.open("wb") as f:  # sparse: over the 10 MiB cap without writing it
        f.truncate(11 * 1024 * 1024)
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    context.set_default_timeout(30_000)
    try:
        # Dropped while the widget is still connecting (here its socket never answers): the
        # file is not lost silently, the customer is told.
        early = context.new_page()
        early.route_web_socket(re.compile(r"/ws/"), lambda _socket: None)
        open_widget_by_keyboard(early, live_platform.url)
        drop_files(early, early.locator("switchboard-widget .panel .log"), [shot])
        expect(early.get_by_role("alert")).to_have_text(
            "Files can't be attached yet; try again in a moment."
        )
        early.close()

        page = context.new_page()
        open_widget_by_keyboard(page, live_platform.url)
        expect(page.get_by_role("button", name="Attach a file", exact=True)).to_be_visible()
        thread = page.locator("switchboard-widget .panel .log")
        alert = page.get_by_role("alert")

        # Dragging over the widget marks where to let go; letting go attaches the file.
        with dragging_files(page, thread, [shot]):
            expect(page.locator("switchboard-widget .panel.drop")).to_be_visible()
        expect(page.locator("switchboard-widget .panel.drop")).to_have_count(0)
        expect(page.get_by_text("screenshot.png (ready)")).to_be_visible()
        box = page.get_by_role("textbox", name="Message", exact=True)
        box.fill("This came up when I paid")
        box.press("Enter")
        sent = page.locator('switchboard-widget [data-role="user"][data-id]')
        expect(sent).to_have_count(1)
        expect(sent).to_contain_text("This came up when I paid")
        expect(sent.get_by_role("img", name="Image: screenshot.png")).to_be_visible()
        wait_until(lambda: page.evaluate(LOADED, '[data-role="user"] .files img'))

        # An SVG with a script is refused by the server, a file over the cap by the widget:
        # each says why, stays out of the message, and the next message goes without it.
        # (Dropped on the message box this time: files are attached there too, not typed in.)
        drop_files(page, box, [svg])
        expect(alert).to_have_text(
            re.compile(r"Couldn't attach logo\.svg: files of this type \(image/svg\+xml\)")
        )
        expect(
            page.get_by_text(re.compile(r"logo\.svg: not attached, files of this type"))
        ).to_be_visible()
        drop_files(page, thread, [big])
        expect(alert).to_have_text("Couldn't attach huge.png: it is over the 10 MB limit.")
        expect(
            page.get_by_text("huge.png: not attached, it is over the 10 MB limit")
        ).to_be_visible()
        box.fill("Did the picture arrive?")
        box.press("Enter")
        expect(sent).to_have_count(2)
        expect(sent.nth(1)).to_have_text(re.compile(r"Did the picture arrive\?"))
        expect(sent.nth(1).locator(".files")).to_have_count(0)
        expect(page.get_by_text(re.compile(r"not attached"))).to_have_count(0)
    finally:
        context.close()

    # Only the screenshot was stored, with the first message.
    kept = list(Attachment.objects.filter(conversation__bot=bot).select_related("message"))
    assert [(a.name, a.message.text if a.message else None) for a in kept] == [
        ("screenshot.png", "This came up when I paid")
    ]


def test_an_agent_attaches_files_to_a_reply_by_keyboard_and_both_sides_see_them(
    live_platform: LivePlatform, browser: Browser, tmp_path: Path
) -> None:
    bot, _key = demo_bot(live_platform)
    manual_queue(bot)  # the conversation waits until the agent takes it
    agent = make_agent(bot.organization)
    agent.first_name, agent.last_name = "Dana", "Reyes"
    agent.save(update_fields=["first_name", "last_name"])
    picture = tmp_path / "card-settings.png"
    picture.write_bytes(files.screenshot("Card active", (640, 360)))
    guide = tmp_path / "unblock-guide.pdf"
    guide.write_bytes(pdf_bytes([["Open Settings, then Cards, then Unblock."]]))
    svg = tmp_path / "logo.svg"
    svg.write_bytes(files.SVG_WITH_SCRIPT)
    wrong = tmp_path / "wrong-one.txt"
    wrong.write_bytes(b"Notes for another customer.\n")

    customer_context = browser.new_context(viewport={"width": 1100, "height": 800})
    customer_context.set_default_timeout(30_000)
    agent_context = browser.new_context(viewport={"width": 1200, "height": 900})
    agent_context.set_default_timeout(30_000)
    try:
        customer = customer_context.new_page()
        open_widget_by_keyboard(customer, live_platform.url)
        customer.get_by_role("button", name="Talk to a human", exact=True).click()
        conversation = wait_until(lambda: Conversation.objects.filter(bot=bot).first())

        # The agent follows the conversation's link and logs in; it is not theirs yet, so
        # there is nothing to attach a file to.
        console = agent_context.new_page()
        # Listening from the start, as in test_widget_attachments_browser: Playwright turns on
        # its interception of file pickers without waiting for the browser.
        console.on("filechooser", lambda _chooser: None)
        console.goto(f"{live_platform.url}/console/c/{conversation.pk}/")
        console.get_by_label("Username").fill(agent.username)
        console.get_by_label("Password").fill(PASSWORD)
        console.get_by_label("Password").press("Enter")
        console.wait_for_url(f"**/console/c/{conversation.pk}/")
        expect(console.locator("#live.on")).to_be_visible()
        attach = console.get_by_role("button", name="Attach a file", exact=True)
        expect(attach).to_be_disabled()
        claim_conversation(agent, conversation.pk)  # taken over: the page follows live
        expect(customer.get_by_text("Dana Reyes joined the chat.")).to_be_visible()
        expect(attach).to_be_enabled()

        # Keyboard only: write, Tab to the attach control, Space opens the chooser.
        console.get_by_test_id("reply").focus()
        console.keyboard.type("Here is where to find it, and a guide.")
        console.keyboard.press("Tab")
        expect(attach).to_be_focused()
        expect(attach).to_have_accessible_description(re.compile(r"Images, PDF"))
        assert attach.evaluate(FOCUS_SHOWN), "the focused attach control shows no focus ring"
        with console.expect_file_chooser() as chooser:
            console.keyboard.press("Space")
        assert chooser.value.is_multiple()
        chooser.value.set_files([str(picture), str(guide), str(svg), str(wrong)])
        files_to_send = console.get_by_role("list", name="Files to send")
        expect(files_to_send).to_contain_text("card-settings.png (ready)")
        expect(files_to_send).to_contain_text("unblock-guide.pdf (ready)")
        expect(files_to_send).to_contain_text("wrong-one.txt (ready)")
        # The SVG (a script inside) is refused, and says why.
        expect(console.get_by_role("alert")).to_have_text(
            re.compile(r"Couldn't attach logo\.svg: files of this type \(image/svg\+xml\)")
        )
        expect(attach).to_be_focused()  # back where the agent left off
        # A file chosen by mistake is taken off the list before sending (its own button).
        remove = files_to_send.get_by_role("button", name="Remove wrong-one.txt", exact=True)
        remove.focus()
        console.keyboard.press("Enter")
        expect(files_to_send).not_to_contain_text("wrong-one.txt")
        expect(attach).to_be_focused()
        console.keyboard.press("Tab")
        expect(console.get_by_role("button", name="Send", exact=True)).to_be_focused()
        console.keyboard.press("Enter")
        expect(files_to_send.get_by_role("listitem")).to_have_count(0)

        # The customer sees the reply with a thumbnail and the PDF's link, which downloads it;
        # not the refused SVG.
        from_agent = customer.locator('switchboard-widget [data-role="agent"]').filter(
            has_text="Here is where to find it"
        )
        expect(from_agent.get_by_role("img", name="Image: card-settings.png")).to_be_visible()
        wait_until(lambda: customer.evaluate(LOADED, '[data-role="agent"] .files img'))
        link = from_agent.get_by_role("link", name="File: unblock-guide.pdf")
        expect(link).to_be_visible()
        expect(from_agent.locator(".files > *")).to_have_count(2)
        download = customer_context.request.get(link.get_attribute("href") or "")
        assert download.status == 200 and download.body() == guide.read_bytes()
        assert download.headers["content-type"] == "application/pdf"

        # The console shows them inline in the agent's message, with what was read from them.
        mine = console.locator('#messages li[data-role="agent"]')
        expect(mine).to_contain_text("Here is where to find it, and a guide.")
        expect(mine.get_by_role("img", name="card-settings.png")).to_be_visible()
        wait_until(lambda: console.evaluate(LOADED, '#messages li[data-role="agent"] img'))
        expect(mine.get_by_role("link", name="unblock-guide.pdf")).to_be_visible()
        expect(mine.locator("figure")).to_have_count(2)
        expect(mine).to_contain_text("Text in the image: Card active", timeout=90_000)
        expect(mine).to_contain_text("Open Settings, then Cards, then Unblock.", timeout=90_000)
    finally:
        agent_context.close()
        customer_context.close()
