"""The website widget in a real browser (Debian's chromium through Playwright).

Against the live platform: uvicorn, the Celery `llm` worker and SmolLM2 on the test database.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction
from playwright.sync_api import Browser, BrowserContext, Page, expect

from accounts.models import Organization
from bots.models import Bot, WidgetKey
from memory.conversations.models import Conversation, Feedback, Message
from memory.conversations.services import allocate_seq, open_conversation, record_user_message
from tests.conftest import LivePlatform, free_port, make_bot, make_widget_key, new_visitor_id

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser, pytest.mark.slow]

MAX_GZIPPED_BYTES = 25 * 1024
REPLY_TIMEOUT_MS = 180_000

# Reads the widget's shadow root from the page (page.evaluate is not subject to the page's CSP).
LAST_BOT_REPLY = """() => {
  const root = document.querySelector("switchboard-widget").shadowRoot;
  const bots = root.querySelectorAll('[data-role="bot"][data-id]');
  const el = bots[bots.length - 1];
  return el ? {id: Number(el.dataset.id), status: el.dataset.status,
               text: el.querySelector(".bubble").textContent} : null;
}"""

# Records every distinct length of the newest bot bubble until it is final, and whether the
# typing indicator showed before the first character.
WATCH_REPLY = """(before) => {
  window.__watch = new Promise((resolve) => {
    const root = document.querySelector("switchboard-widget").shadowRoot;
    const seen = [];
    let typingFirst = false;
    const tick = () => {
      const bots = [...root.querySelectorAll('[data-role="bot"][data-id]')]
        .filter((el) => !before.includes(Number(el.dataset.id)));
      const el = bots[bots.length - 1];
      const typing = root.querySelector(".typing");
      const len = el ? el.querySelector(".bubble").textContent.length : 0;
      if (!len && typing && !typing.hidden) typingFirst = true;
      if (el && seen[seen.length - 1] !== len) seen.push(len);
      if (el && el.dataset.status !== "streaming") {
        resolve({seen, typingFirst, status: el.dataset.status, id: Number(el.dataset.id)});
      } else setTimeout(tick, 5);
    };
    tick();
  });
}"""


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    context.set_default_timeout(30_000)
    yield context
    context.close()


def demo_bot(live: LivePlatform, **overrides: Any) -> tuple[Bot, WidgetKey]:
    """The demo page's bot (org slug "demo"), with a key that allows the live server's origin."""
    org = Organization.objects.create(name="Acme Bank (demo)", slug="demo")
    fields: dict[str, Any] = {
        "name": "Acme test assistant",
        "greeting": "Hi! I'm the Acme test assistant.",
        "max_tokens": 64,
    }
    fields.update(overrides)
    bot = make_bot(org, **fields)
    return bot, make_widget_key(bot, [live.url])


def widget_root_eval(page: Page, body: str) -> Any:
    return page.evaluate(
        f"() => {{ const root = document.querySelector('switchboard-widget').shadowRoot; {body} }}"
    )


def wait_until(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def letters(text: str) -> str:
    """Letters and digits only: what Markdown rendering never adds or removes."""
    text = re.sub(r"\]\([^)\s]*\)", "", text)  # a link's URL is not shown
    text = re.sub(r"^\s*(```|~~~)\S*", "", text, flags=re.MULTILINE)  # nor a fence's language
    return re.sub(r"[\W_]+", "", text)


def store_bot_reply(bot: Bot, visitor: str, text: str, sources: list[dict[str, str]]) -> Message:
    conversation = open_conversation(bot, visitor)
    with transaction.atomic():
        return Message.objects.create(
            conversation=conversation,
            seq=allocate_seq(conversation.pk),
            role=Message.Role.BOT,
            status=Message.Status.FINAL,
            text=text,
            sources=sources,
        )


def test_demo_page_streams_a_reply_and_keeps_it_and_its_helpful_vote_across_a_reload(
    live_platform: LivePlatform, context: BrowserContext
) -> None:
    bot, _key = demo_bot(live_platform)
    page = context.new_page()
    csp_errors: list[str] = []
    page.on("console", lambda m: "Content Security Policy" in m.text and csp_errors.append(m.text))
    response = page.goto(live_platform.url + "/")
    assert response is not None
    assert "default-src 'none'" in response.headers["content-security-policy"]

    launcher = page.get_by_role("button", name="Open chat", exact=True)
    launcher.click()
    expect(page.get_by_role("button", name="Close chat", exact=True)).to_be_visible()
    box = page.get_by_role("textbox", name="Message", exact=True)
    expect(box).to_be_focused()
    expect(page.get_by_text("Hi! I'm the Acme test assistant.")).to_be_visible()

    page.evaluate(WATCH_REPLY, [])
    box.fill("How do I activate my new card?")
    box.press("Enter")
    expect(box).to_have_value("")
    expect(page.get_by_text("How do I activate my new card?")).to_be_visible()
    watched = page.evaluate("window.__watch")

    assert watched["status"] == "final"
    assert watched["typingFirst"], "a typing indicator shows while waiting for the first text"
    growing = [n for n in watched["seen"] if 0 < n < watched["seen"][-1]]
    assert len(growing) >= 2, f"the reply should stream in visibly, saw lengths {watched['seen']}"
    stored = Message.objects.get(pk=watched["id"])
    assert stored.status == Message.Status.FINAL and stored.role == Message.Role.BOT
    shown = page.evaluate(LAST_BOT_REPLY)["text"]
    assert letters(shown) == letters(stored.text) and letters(shown)

    helpful = page.get_by_role("button", name="Helpful", exact=True).last
    expect(helpful).to_have_attribute("aria-pressed", "false")
    helpful.click()
    expect(helpful).to_have_attribute("aria-pressed", "true")
    feedback = wait_until(lambda: Feedback.objects.filter(message=stored).first())
    assert feedback.rating == "helpful"

    page.reload()
    # The panel remembers it was open; the conversation comes back from the server.
    expect(page.get_by_role("button", name="Close chat", exact=True)).to_be_visible()
    expect(page.get_by_text("How do I activate my new card?")).to_be_visible()
    expect(page.get_by_role("button", name="Helpful", exact=True).last).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(page.get_by_role("button", name="Not helpful", exact=True).last).to_have_attribute(
        "aria-pressed", "false"
    )
    assert page.evaluate(LAST_BOT_REPLY)["text"] == shown
    assert Message.objects.filter(conversation__bot=bot).count() == 2

    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name="Open chat", exact=True)).to_be_focused()
    expect(page.get_by_role("textbox", name="Message", exact=True)).to_be_hidden()
    assert csp_errors == [], "the widget works under the demo page's strict CSP"


def test_hostile_markdown_in_a_bot_reply_stored_directly_in_the_db_renders_as_inert_text(
    live_platform: LivePlatform, context: BrowserContext
) -> None:
    bot, key = demo_bot(live_platform)
    visitor = new_visitor_id()
    hostile = (
        'Hello <img src=x onerror="window.__pwned=1"> and <script>window.__pwned=2</script>\n'
        "[click me](javascript:window.__pwned=3) or [the help page](https://example.org/safe)\n"
        '<a href="javascript:window.__pwned=4">raw link</a> ![pic](http://evil.example/x.png)\n'
        "\n"
        "Some **bold**, *italic* and `inline <b>code</b>`:\n"
        "\n"
        "- first step\n"
        "- second step\n"
        "\n"
        "```\n<svg onload=window.__pwned=5>\n```"
    )
    store_bot_reply(
        bot,
        visitor,
        hostile,
        sources=[
            {"kind": "knowledge", "title": "Evil", "url": "javascript:window.__pwned=6",
             "snippet": "<img src=y onerror=window.__pwned=7>"},
            {"kind": "knowledge", "title": "Activating your card",
             "url": "https://help.example/card", "snippet": "Open the app and tap Activate."},
        ],
    )  # fmt: skip
    context.add_init_script(f"localStorage.setItem('switchboard:{key.key}:visitor', '{visitor}')")
    page = context.new_page()
    requests: list[str] = []
    dialogs: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(live_platform.url + "/")
    page.get_by_role("button", name="Open chat", exact=True).click()

    bubble = page.locator('[data-role="bot"][data-id] .bubble')
    expect(bubble).to_contain_text('<img src=x onerror="window.__pwned=1">')
    expect(bubble).to_contain_text("<script>window.__pwned=2</script>")
    expect(bubble).to_contain_text("[click me](javascript:window.__pwned=3)")
    expect(bubble).to_contain_text("<svg onload=window.__pwned=5>")
    expect(page.get_by_text("Open the app and tap Activate.")).to_be_visible()
    expect(page.get_by_text("<img src=y onerror=window.__pwned=7>")).to_be_visible()

    rendered = widget_root_eval(
        page,
        """return {
          // The widget's own icons (the launcher, the attach and voice-note buttons) aside.
          dangerous: root.querySelectorAll("img, script, iframe, object, embed, svg *").length
            - root.querySelectorAll(".launcher svg *, button.icon > svg *").length,
          links: [...root.querySelectorAll("a")]
            .map((a) => [a.textContent, a.href, a.rel, a.target]),
          strong: [...root.querySelectorAll(".bubble strong")].map((e) => e.textContent),
          em: [...root.querySelectorAll(".bubble em")].map((e) => e.textContent),
          code: [...root.querySelectorAll(".bubble code")].map((e) => e.textContent),
          items: [...root.querySelectorAll(".bubble li")].map((e) => e.textContent),
        };""",
    )
    assert rendered["dangerous"] == 0
    rel = "noopener noreferrer nofollow"
    assert sorted(rendered["links"]) == sorted(
        [
            ["the help page", "https://example.org/safe", rel, "_blank"],
            ["pic", "http://evil.example/x.png", rel, "_blank"],
            ["Activating your card", "https://help.example/card", rel, "_blank"],
        ]
    )
    assert rendered["strong"] == ["bold"] and rendered["em"] == ["italic"]
    assert rendered["code"] == ["inline <b>code</b>", "<svg onload=window.__pwned=5>"]
    assert rendered["items"] == ["first step", "second step"]

    page.wait_for_timeout(500)
    assert page.evaluate("window.__pwned") is None, "no script from the reply ran"
    assert dialogs == []
    foreign = [u for u in requests if not u.startswith(live_platform.url)]
    assert foreign == [], f"the page reached beyond its origin: {foreign}"
    assert not any(u.startswith(live_platform.url + "/x") for u in requests)


class FlakyNetwork:
    """A proxy in front of the real socket that can cut the line, like a dropped network.

    While it is down, new connections are closed at once (Chromium's offline emulation does
    not reliably stop websockets); `cut_at_first_delta` drops it the moment a reply starts.
    """

    def __init__(self, page: Page) -> None:
        self.down_until = 0.0
        self.cut_at_first_delta = False
        self.connections = 0
        self.resumed = 0
        self.open: list[tuple[Any, Any]] = []
        page.route_web_socket(re.compile(r".*/ws/widget/.*"), self.route)

    def wait_resumed(self, page: Page, count: int = 1) -> None:
        """Until the widget has resumed `count` times (Playwright runs the proxy meanwhile)."""
        for _ in range(300):
            if self.resumed >= count:
                return
            page.wait_for_timeout(100)
        raise AssertionError("the widget did not connect")

    @property
    def down(self) -> bool:
        return time.monotonic() < self.down_until

    def cut(self, seconds: float) -> None:
        self.down_until = time.monotonic() + seconds
        for ws, server in self.open:
            ws.close()
            server.close()
        self.open.clear()

    def route(self, ws: Any) -> None:
        if self.down:
            ws.close()
            return
        self.connections += 1
        server = ws.connect_to_server()
        self.open.append((ws, server))

        def from_server(message: str | bytes) -> None:
            if self.down:
                return
            ws.send(message)
            if '"resumed"' in str(message):
                self.resumed += 1
            if self.cut_at_first_delta and '"reply.delta"' in str(message):
                self.cut_at_first_delta = False
                self.cut(1.5)

        server.on_message(from_server)


def test_network_drop_mid_reply_injected_by_a_proxy_resumes_with_no_duplicated_or_missing_text(
    live_platform: LivePlatform, context: BrowserContext
) -> None:
    bot, _key = demo_bot(live_platform, max_tokens=40)
    page = context.new_page()
    network = FlakyNetwork(page)
    page.goto(live_platform.url + "/")
    page.get_by_role("button", name="Open chat", exact=True).click()
    network.cut_at_first_delta = True
    box = page.get_by_role("textbox", name="Message", exact=True)
    box.fill("Tell me about your savings accounts and how interest works.")
    box.press("Enter")

    expect(page.get_by_role("status").filter(has_text="Reconnecting")).to_be_visible(
        timeout=REPLY_TIMEOUT_MS
    )
    before = page.evaluate(LAST_BOT_REPLY)
    assert before is not None and before["status"] == "streaming", "the drop came mid-reply"
    assert before["text"], "part of the reply had arrived"

    page.wait_for_function(
        f"() => {{ const r = ({LAST_BOT_REPLY})(); return r && r.status !== 'streaming'; }}",
        timeout=REPLY_TIMEOUT_MS,
    )
    after = page.evaluate(LAST_BOT_REPLY)
    assert network.connections >= 2, "the widget reconnected"
    stored = Message.objects.get(pk=after["id"])
    assert stored.status == Message.Status.FINAL
    assert letters(after["text"]).startswith(letters(before["text"]))
    assert letters(after["text"]) == letters(stored.text)
    # The same reply rendered in one piece from the database (a fresh page) reads the same.
    page.reload()
    page.wait_for_function(f"() => ({LAST_BOT_REPLY})() !== null")
    assert page.evaluate(LAST_BOT_REPLY)["text"] == after["text"]
    users = Message.objects.filter(conversation__bot=bot, role=Message.Role.USER)
    assert users.count() == 1


def test_message_sent_while_the_network_is_down_is_delivered_once_after_reconnecting(
    live_platform: LivePlatform, context: BrowserContext
) -> None:
    bot, _key = demo_bot(live_platform, max_tokens=8)
    page = context.new_page()
    network = FlakyNetwork(page)
    page.goto(live_platform.url + "/")
    page.get_by_role("button", name="Open chat", exact=True).click()
    network.wait_resumed(page)
    network.cut(3.0)
    expect(page.get_by_role("status").filter(has_text="Reconnecting")).to_be_visible()

    box = page.get_by_role("textbox", name="Message", exact=True)
    box.fill("Are you open on Sundays?")
    box.press("Enter")
    expect(page.get_by_text("Are you open on Sundays?")).to_be_visible()
    expect(page.get_by_text("Sending…")).to_be_visible()
    assert network.down, "still down while the message waits"
    assert not Message.objects.filter(conversation__bot=bot).exists()

    expect(page.get_by_text("Sending…")).to_have_count(0, timeout=60_000)
    assert network.connections >= 2
    page.wait_for_function(
        f"() => {{ const r = ({LAST_BOT_REPLY})(); return r && r.status !== 'streaming'; }}",
        timeout=REPLY_TIMEOUT_MS,
    )
    users = Message.objects.filter(conversation__bot=bot, role=Message.Role.USER)
    assert [m.text for m in users] == ["Are you open on Sundays?"]
    assert page.get_by_text("Are you open on Sundays?").count() == 1


def test_widget_script_is_at_most_25_kb_gzipped_as_the_browser_downloads_it(
    live_platform: LivePlatform, context: BrowserContext
) -> None:
    demo_bot(live_platform)
    page = context.new_page()
    with page.expect_response(lambda r: r.url.endswith("/widget.js")) as caught:
        page.goto(live_platform.url + "/")
    response = caught.value
    assert response.ok and "javascript" in response.headers["content-type"]
    body = response.body()
    gzipped = len(gzip.compress(body, compresslevel=9))
    print(f"widget.js: {len(body)} bytes, {gzipped} bytes gzipped")
    assert 1000 < gzipped <= MAX_GZIPPED_BYTES


HOST_PAGE = """<!doctype html><html><head><title>Someone's shop</title>{head}</head><body>
<h2 class="head">Shop</h2><p class="msg bubble status">A paragraph of the host page.</p>
<button class="launcher primary">A host button</button><textarea class="composer"></textarea>
<ul class="sources items"><li class="title">An item</li></ul>{script}</body></html>"""

HOSTILE_CSS = """<style>
* { color: red !important; background: yellow !important; font: italic 30px/3 serif !important;
    display: inline !important; border: 4px dashed red !important; padding: 20px !important;
    margin: 30px !important; text-transform: uppercase !important; letter-spacing: 5px !important;
    box-sizing: content-box !important; }
switchboard-widget { display: none !important; position: static !important; }
button, textarea, div, p { all: unset !important; }
html { font-size: 40px !important; }
</style>"""

PROBE_STYLES = """(selectors) => selectors.map((sel) => {
  const root = document.querySelector("switchboard-widget")?.shadowRoot;
  const el = sel.startsWith("host:")
    ? document.querySelector(sel.slice(5)) : root.querySelector(sel);
  const s = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  return [sel, s.color, s.backgroundColor, s.font, s.display, s.borderTopWidth, s.paddingTop,
          s.marginTop, s.textTransform, s.letterSpacing, s.visibility,
          Math.round(box.x), Math.round(box.y), Math.round(box.width), Math.round(box.height)];
})"""


class HostSite:
    """Someone else's website on its own origin (another port), embedding the widget."""

    def __init__(self) -> None:
        self.pages: dict[str, bytes] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path)
                self.send_response(200 if body else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, html: str) -> str:
        path = f"/page-{len(self.pages)}"
        self.pages[path] = html.encode()
        return self.origin + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def host_site() -> Iterator[HostSite]:
    site = HostSite()
    yield site
    site.close()


def host_page(
    context: BrowserContext, live: LivePlatform, site: HostSite
) -> Callable[[str, bool], Page]:
    """Opens a page of the host site, with or without the widget's one script tag."""
    _bot, key = demo_bot(live)
    key.allowed_origins = [site.origin]
    key.save(update_fields=["allowed_origins"])

    def open_page(head: str, with_widget: bool) -> Page:
        script = f'<script src="{live.url}/static/widget/widget.js" data-key="{key.key}"></script>'
        url = site.add(HOST_PAGE.format(head=head, script=script if with_widget else ""))
        page = context.new_page()
        page.goto(url)
        return page

    return open_page


def test_a_hostile_host_stylesheet_does_not_change_the_widget(
    live_platform: LivePlatform, context: BrowserContext, host_site: HostSite
) -> None:
    open_page = host_page(context, live_platform, host_site)
    widget_parts = [".launcher", ".panel", ".head", "h2", "textarea", ".primary", ".bubble"]

    def widget_styles(head: str) -> list[Any]:
        page = open_page(head, True)
        page.get_by_role("button", name="Open chat", exact=True).click()
        expect(page.get_by_role("textbox", name="Message", exact=True)).to_be_visible()
        expect(page.get_by_text("Hi! I'm the Acme test assistant.")).to_be_visible()
        styles = page.evaluate(PROBE_STYLES, widget_parts)
        page.close()
        return list(styles)

    plain = widget_styles("")
    hostile = widget_styles(HOSTILE_CSS)
    assert hostile == plain
    launcher = plain[0]
    assert launcher[4] == "flex" and launcher[13] == 56, "the launcher is shown, 56 px wide"


def test_the_widget_styles_do_not_leak_into_the_host_page(
    live_platform: LivePlatform, context: BrowserContext, host_site: HostSite
) -> None:
    open_page = host_page(context, live_platform, host_site)
    host_parts = ["host:h2", "host:p", "host:button", "host:textarea", "host:ul", "host:li"]

    without = open_page("", False)
    expected = without.evaluate(PROBE_STYLES, host_parts)
    with_widget = open_page("", True)
    with_widget.get_by_role("button", name="Open chat", exact=True).click()
    expect(with_widget.get_by_role("textbox", name="Message", exact=True)).to_be_focused()
    assert with_widget.evaluate(PROBE_STYLES, host_parts) == expected
    assert (
        with_widget.evaluate("document.styleSheets.length + document.adoptedStyleSheets.length")
        == 0
    )


def test_asking_for_a_human_shows_the_queue_the_agent_their_messages_and_a_rating_prompt(
    live_platform: LivePlatform, context: BrowserContext
) -> None:
    from core.realtime import publish_now
    from desk import services as desk
    from desk.models import Csat
    from tests.desk.factories import make_agent

    bot, _key = demo_bot(live_platform)
    page = context.new_page()
    page.goto(live_platform.url + "/")
    page.get_by_role("button", name="Open chat", exact=True).click()
    ask = page.get_by_role("button", name="Talk to a human", exact=True)
    ask.click()
    status = page.get_by_role("status").filter(has_text="in line")
    expect(status).to_have_text("Waiting for a person — you're number 1 in line.")
    expect(ask).to_be_hidden()

    agent = make_agent(bot.organization)
    agent.first_name, agent.last_name = "Dana", "Reyes"
    agent.save(update_fields=["first_name", "last_name"])
    conversation = Conversation.objects.get(bot=bot)
    desk.claim_conversation(agent, conversation.pk)
    expect(page.get_by_role("status").filter(has_text="joined")).to_have_text(
        "Dana Reyes joined the chat."
    )
    publish_now(conversation.pk, {"type": "typing", "who": "agent", "on": True})
    expect(page.get_by_role("status", name="An agent is typing")).to_be_visible()
    desk.send_agent_message(agent, conversation.pk, "Hello, I'm **Dana**. Let me check.")
    agent_message = page.locator('[data-role="agent"]')
    expect(agent_message).to_contain_text("Dana Reyes")
    expect(agent_message.locator("strong")).to_have_text("Dana")
    publish_now(conversation.pk, {"type": "typing", "who": "agent", "on": False})
    expect(page.get_by_role("status", name="An agent is typing")).to_be_hidden()

    desk.hand_back_to_bot(agent, conversation.pk)
    expect(page.get_by_role("status").filter(has_text="back with")).to_have_text(
        "You're back with Acme test assistant."
    )
    expect(ask).to_be_visible()
    desk.claim_conversation(agent, conversation.pk)
    desk.resolve_conversation(agent, conversation.pk)
    expect(page.get_by_role("status").filter(has_text="resolved")).to_be_visible()
    survey = page.get_by_role("form", name="Rate this conversation")
    survey.get_by_role("button", name="4 out of 5").click()
    survey.get_by_role("textbox", name="Comment (optional)").fill("Quick and kind.")
    survey.get_by_role("button", name="Submit rating").click()
    expect(page.get_by_text("Thanks for rating us (4/5)!")).to_be_visible()
    csat = Csat.objects.get(conversation=conversation)
    assert (csat.score, csat.comment) == (4, "Quick and kind.")


def signed_in_page(
    context: BrowserContext, live: LivePlatform, site: HostSite, bot: Bot, key: WidgetKey, user: str
) -> Page:
    """A host site's page whose server signed its customer `user` in (the user-hash tag)."""
    from memory.longterm.identity import user_hash
    from memory.longterm.models import BotIdentity

    secret = BotIdentity.objects.get_or_create(bot=bot)[0].secret
    key.allowed_origins = [site.origin]
    key.save(update_fields=["allowed_origins"])
    tag = (
        f'<script src="{live.url}/static/widget/widget.js" data-key="{key.key}" '
        f'data-user-id="{user}" data-user-hash="{user_hash(secret, user)}"></script>'
    )
    page = context.new_page()
    page.goto(site.add(HOST_PAGE.format(head="", script=tag)))
    return page


def test_what_we_remember_is_for_signed_in_customers_only(
    live_platform: LivePlatform, context: BrowserContext
) -> None:
    demo_bot(live_platform)
    page = context.new_page()
    page.goto(live_platform.url + "/")
    page.get_by_role("button", name="Open chat", exact=True).click()
    page.get_by_role("button", name="What we remember", exact=True).click()
    expect(page.get_by_text("Sign in on this website to see")).to_be_visible()
    expect(page.get_by_role("button", name="Download my data")).to_have_count(0)
    page.get_by_role("button", name="Back to chat").click()
    expect(page.get_by_role("textbox", name="Message", exact=True)).to_be_focused()


def test_what_we_remember_saves_preferences_downloads_them_and_forgets_everything(
    live_platform: LivePlatform, context: BrowserContext, host_site: HostSite
) -> None:
    from memory.longterm.models import Preference

    bot, key = demo_bot(live_platform)
    page = signed_in_page(context, live_platform, host_site, bot, key, "cust-ada")
    page.get_by_role("button", name="Open chat", exact=True).click()
    page.get_by_role("button", name="What we remember", exact=True).click()
    expect(page.get_by_role("heading", name="What we remember")).to_be_focused()
    expect(page.get_by_text("Nothing yet.")).to_be_visible()
    expect(page.locator("section.view")).not_to_contain_text(re.compile(r"null|undefined"))

    page.get_by_role("textbox", name="Name", exact=True).fill("Ada")
    page.get_by_role("combobox", name="Answer style").select_option("brief")
    page.get_by_role("button", name="Save preferences").click()
    expect(page.get_by_text("Preferences saved.")).to_be_visible()
    stored = dict(
        Preference.objects.filter(contact__external_id="cust-ada").values_list("name", "value")
    )
    assert stored == {"name": "Ada", "tone": "brief"}
    expect(page.get_by_role("textbox", name="Name", exact=True)).to_have_value("Ada")

    with page.expect_download() as caught:
        page.get_by_role("button", name="Download my data").click()
    exported = Path(caught.value.path()).read_text()
    assert '"Ada"' in exported and "brief" in exported

    page.get_by_role("button", name="Forget everything", exact=True).click()
    page.get_by_role("button", name="Yes, forget everything").click()
    expect(page.get_by_role("textbox", name="Name", exact=True)).to_have_value("")
    assert not Preference.objects.filter(contact__external_id="cust-ada").exists()
    page.get_by_role("button", name="Back to chat").click()
    expect(page.get_by_role("textbox", name="Message", exact=True)).to_be_focused()


def test_outside_business_hours_asking_for_a_human_offers_an_email_form_that_is_stored(
    live_platform: LivePlatform, context: BrowserContext
) -> None:
    from django.utils import timezone

    from desk.models import HandoffPolicy, OfflineMessage

    bot, _key = demo_bot(live_platform)
    tomorrow = (timezone.now().weekday() + 1) % 7
    HandoffPolicy.objects.create(bot=bot, weekdays=[tomorrow], timezone="UTC")
    page = context.new_page()
    page.goto(live_platform.url + "/")
    page.get_by_role("button", name="Open chat", exact=True).click()
    page.get_by_role("button", name="Talk to a human", exact=True).click()
    form = page.get_by_role("form", name="Leave a message")
    expect(form).to_be_visible()
    form.get_by_role("textbox", name="Email").fill("ada@example.com")
    form.get_by_role("textbox", name="Message for the team").fill("Please call me back.")
    form.get_by_role("button", name="Leave a message").click()
    expect(page.get_by_text("Thanks! We'll e-mail you soon.")).to_be_visible()
    stored = OfflineMessage.objects.get(conversation__bot=bot)
    assert (stored.email, stored.text) == ("ada@example.com", "Please call me back.")


CONTRAST = """() => {
  const root = document.querySelector("switchboard-widget").shadowRoot;
  const rgba = (c) => c.match(/[\\d.]+/g).map(Number).concat([1]).slice(0, 4);
  const lum = ([r, g, b]) => {
    const f = (v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement || e.getRootNode().host) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) return c;
    }
    return [255, 255, 255, 1];
  };
  const low = [];
  let checked = 0;
  for (const el of root.querySelectorAll("*")) {
    const text = [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.data).join("");
    if (!text.trim() || !el.getClientRects().length) continue;
    const fg = lum(rgba(getComputedStyle(el).color));
    const bg = lum(background(el));
    const ratio = (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
    checked++;
    if (ratio < 4.5) low.push([text.trim().slice(0, 40), Math.round(ratio * 100) / 100]);
  }
  return {checked, low};
}"""


def test_every_text_in_the_widget_meets_wcag_aa_contrast(
    live_platform: LivePlatform, context: BrowserContext
) -> None:
    bot, key = demo_bot(live_platform)
    visitor = new_visitor_id()
    record_user_message(open_conversation(bot, visitor), "c1", "Where is my card?")
    reply = store_bot_reply(
        bot,
        visitor,
        "It ships in **3 days**. See [tracking](https://example.org/t) or use `track`.",
        sources=[{"kind": "knowledge", "title": "Cards", "url": "", "snippet": "Delivery."}],
    )
    Feedback.objects.create(message=reply, contact=reply.conversation.contact, rating="helpful")
    context.add_init_script(f"localStorage.setItem('switchboard:{key.key}:visitor', '{visitor}')")
    page = context.new_page()
    page.goto(live_platform.url + "/")
    page.get_by_role("button", name="Open chat", exact=True).click()
    expect(page.get_by_role("button", name="Helpful", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    result = page.evaluate(CONTRAST)
    assert result["checked"] >= 10
    assert result["low"] == [], "text below 4.5:1 contrast"


def test_talk_to_a_human_hides_quietly_when_the_server_lacks_it_with_a_faked_old_server(
    live_platform: LivePlatform, context: BrowserContext
) -> None:
    """A proxy in front of the real socket answers `handoff.request` like a server without it."""
    demo_bot(live_platform)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))

    def old_server(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            if isinstance(message, str) and '"handoff.request"' in message:
                detail = "unknown frame type 'handoff.request'"
                ws.send(json.dumps({"type": "error", "code": "unknown_type", "detail": detail}))
            else:
                server.send(message)

        ws.on_message(from_page)
        server.on_message(lambda message: ws.send(message))

    page.route_web_socket(re.compile(r".*/ws/widget/.*"), old_server)
    page.goto(live_platform.url + "/")
    page.get_by_role("button", name="Open chat", exact=True).click()
    ask = page.get_by_role("button", name="Talk to a human", exact=True)
    ask.click()
    expect(ask).to_be_hidden()
    expect(page.get_by_text("Asking for a person")).to_have_count(0)
    expect(page.get_by_role("alert")).to_have_count(0)  # nothing alarming shown
    box = page.get_by_role("textbox", name="Message", exact=True)
    expect(box).to_be_enabled()
    assert errors == []


def test_identity_attributes_of_the_script_tag_reach_the_socket_url(
    live_platform: LivePlatform, context: BrowserContext, host_site: HostSite
) -> None:
    _bot, key = demo_bot(live_platform)
    key.allowed_origins = [host_site.origin]
    key.save(update_fields=["allowed_origins"])
    tag = (
        f'<script src="{live_platform.url}/static/widget/widget.js" data-key="{key.key}" '
        'data-user-id="cust-42" data-user-hash="ab12"></script>'
    )
    page = context.new_page()
    with page.expect_websocket() as caught:
        page.goto(host_site.add(HOST_PAGE.format(head="", script=tag)))
        page.get_by_role("button", name="Open chat", exact=True).click()
    url = caught.value.url
    assert url.startswith(live_platform.ws_url + "/ws/widget/?"), (
        "the socket goes to the src's host"
    )
    assert f"key={key.key}" in url and "user_id=cust-42" in url and "user_hash=ab12" in url
    # "ab12" is no valid signature: the server refuses it (4401) and the widget carries on
    # as an anonymous visitor instead of retrying the refused claim.
    with page.expect_websocket(timeout=30_000) as again:
        pass
    assert "user_id" not in again.value.url and "user_hash" not in again.value.url
    page.get_by_role("textbox", name="Message").fill("Hello there")
    page.get_by_role("button", name="Send").click()
    deadline = time.monotonic() + 30
    stored = Message.objects.none()
    while time.monotonic() < deadline:
        stored = Message.objects.filter(conversation__bot=_bot, role="user", text="Hello there")
        if stored.exists():
            break
        time.sleep(0.2)
    contact = stored.get().conversation.contact
    assert not contact.external_id, "an unverified claim never identifies the visitor"


def test_a_lost_ack_leaves_one_message_on_screen_and_in_the_db_with_a_faked_lossy_proxy(
    live_platform: LivePlatform, context: BrowserContext
) -> None:
    """A proxy in front of the real socket swallows the first `ack`, then drops the line."""
    bot, _key = demo_bot(live_platform, max_tokens=8)
    page = context.new_page()
    connections: list[int] = []

    def lossy(ws: Any) -> None:
        server = ws.connect_to_server()
        connections.append(len(connections))
        first = len(connections) == 1

        def from_server(message: str | bytes) -> None:
            if first and isinstance(message, str) and json.loads(message)["type"] == "ack":
                ws.close()
                server.close()
            else:
                ws.send(message)

        server.on_message(from_server)

    page.route_web_socket(re.compile(r".*/ws/widget/.*"), lossy)
    page.goto(live_platform.url + "/")
    page.get_by_role("button", name="Open chat", exact=True).click()
    box = page.get_by_role("textbox", name="Message", exact=True)
    box.fill("Can I change my PIN?")
    box.press("Enter")

    expect(page.get_by_text("Sending…")).to_have_count(0, timeout=60_000)
    assert len(connections) >= 2, "the widget reconnected after the drop"
    expect(page.locator('[data-role="user"]')).to_have_count(1)
    expect(page.get_by_text("Can I change my PIN?")).to_have_count(1)
    users = Message.objects.filter(conversation__bot=bot, role=Message.Role.USER)
    assert [m.text for m in users] == ["Can I change my PIN?"]


def test_what_we_remember_lists_remembered_facts_and_forgets_one_at_a_time(
    live_platform: LivePlatform, context: BrowserContext, host_site: HostSite
) -> None:
    from memory.longterm.contacts import identify_visitor
    from memory.longterm.facts import remember_fact
    from memory.longterm.models import MemoryItem, Origin

    bot, key = demo_bot(live_platform)
    with transaction.atomic():
        contact = identify_visitor(bot.organization_id, new_visitor_id(), "cust-lisbon")
    city = remember_fact(contact, "city", "Lisbon", origin=Origin.EXPLICIT)
    employer = remember_fact(contact, "employer", "Acme Tiles", origin=Origin.EXPLICIT)
    page = signed_in_page(context, live_platform, host_site, bot, key, "cust-lisbon")
    page.get_by_role("button", name="Open chat", exact=True).click()
    page.get_by_role("button", name="What we remember", exact=True).click()
    expect(page.get_by_text(city.text, exact=True)).to_be_visible()
    expect(page.get_by_text(employer.text, exact=True)).to_be_visible()

    page.get_by_role("button", name=f"Forget: {city.text}").click()
    expect(page.get_by_text(city.text, exact=True)).to_have_count(0)
    expect(page.get_by_text(employer.text, exact=True)).to_be_visible()
    assert list(MemoryItem.objects.filter(contact=contact).values_list("key", flat=True)) == [
        "employer"
    ]
