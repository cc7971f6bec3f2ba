"""Every format, end to end: added through the service, ingested by the real `embeddings`
worker (real MiniLM), found by hybrid retrieval. Re-ingesting replaces all chunks.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

from memory.knowledge.ingestion import claim_documents, ingest_claims
from memory.knowledge.models import Chunk, Document
from memory.knowledge.selectors import retrieve_chunks
from memory.knowledge.services import add_document, reingest_document
from tests.conftest import LivePlatform, make_bot
from tests.memory.knowledge.documents import (
    FAQ,
    HTML,
    MARKDOWN,
    TEXT,
    pdf_bytes,
    wait_until_ingested,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


class Site(http.server.BaseHTTPRequestHandler):
    pages = {
        "/help/shipping.html": (
            "text/html",
            b"<html><head><title>Shipping help</title></head><body>"
            b"<h2 id='parcel'>Parcel tracking</h2><p>Every parcel gets a tracking number by "
            b"email within two hours of dispatch.</p></body></html>",
        ),
        "/help/fees.pdf": (
            "application/pdf",
            pdf_bytes([["Account fees"], ["The premium plan costs 7 euros a month."]]),
        ),
    }

    def do_GET(self) -> None:
        content_type, body = self.pages.get(self.path, ("text/plain", b""))
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    """A help site on the test-only allowed endpoint (settings.FETCH_ALLOW_HOSTS)."""
    host, port = settings.FETCH_ALLOW_HOSTS[0].rsplit(":", 1)
    server = http.server.ThreadingHTTPServer((host, int(port)), Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://{host}:{port}"
    server.shutdown()
    server.server_close()


def top(bot: object, query: str) -> tuple[str, str]:
    hits = retrieve_chunks(bot, query, limit=3)  # type: ignore[arg-type]
    assert hits, f"nothing found for {query!r}"
    return hits[0].title, hits[0].text


def test_each_format_is_ingested_by_the_worker_into_searchable_chunks(
    live_platform: LivePlatform, site: str
) -> None:
    bot = make_bot()
    documents = [
        add_document(bot, kind="markdown", title="Travel guide", body=MARKDOWN),
        add_document(bot, kind="html", title="Refund policy", body=HTML),
        add_document(bot, kind="text", title="Opening hours", body=TEXT),
        add_document(bot, kind="faq", title="Card FAQ", body=FAQ),
        add_document(
            bot,
            kind="pdf",
            title="Lost card leaflet",
            blob=pdf_bytes(
                [
                    ["Lost or stolen card"],
                    ["Freeze your card in the app at once, then order a replacement card."],
                ]
            ),
        ),
        add_document(
            bot, kind="url", title="Shipping help", source_url=f"{site}/help/shipping.html"
        ),
        add_document(bot, kind="url", title="Fees", source_url=f"{site}/help/fees.pdf"),
    ]
    for document in documents:
        wait_until_ingested(document)
        assert document.status == "ready", (document.title, document.error)
        assert document.chunks_total == document.chunks.count() > 0

    title, text = top(bot, "how much can I take out of a cash machine in another country")
    assert title == "Travel guide" and "400 euros" in text
    assert text.startswith("Travel guide > Cash withdrawals abroad")  # self-contained chunk
    title, text = top(bot, "the merchant refuses to refund me, can I dispute it")
    assert title == "Refund policy" and "chargeback" in text
    assert not Chunk.objects.filter(bot=bot, text__contains="do not index me").exists()
    title, text = top(bot, "when can I call you on a saturday")
    assert title == "Opening hours" and "Saturdays" in text
    hits = retrieve_chunks(bot, "how can I change my PIN number", limit=3)
    assert hits[0].question == "How do I change my PIN?" and "Card settings" in hits[0].answer
    title, text = top(bot, "someone stole my card what do I do")
    assert title == "Lost card leaflet" and "Freeze your card" in text
    assert Chunk.objects.get(document=documents[4], text__contains="Freeze").anchor == "page=2"
    title, text = top(bot, "where is my parcel tracking number")
    assert title == "Shipping help" and "two hours" in text
    assert Chunk.objects.get(document=documents[5]).anchor == "#parcel"
    title, text = top(bot, "monthly price of the premium plan")
    assert title == "Fees" and "7 euros" in text


def test_reingesting_a_document_leaves_no_stale_chunk(live_platform: LivePlatform) -> None:
    bot = make_bot()
    first = wait_until_ingested(
        add_document(bot, kind="markdown", title="Limits", key="limits.md", body=MARKDOWN)
    )
    old_ids = set(first.chunks.values_list("pk", flat=True))
    assert old_ids and "400 euros" in " ".join(first.chunks.values_list("text", flat=True))

    changed = MARKDOWN.replace("400 euros", "650 euros").replace("2 percent", "1 percent")
    second = add_document(bot, kind="markdown", title="Limits", key="limits.md", body=changed)
    assert second.pk == first.pk
    second = wait_until_ingested(second)

    texts = list(Chunk.objects.filter(bot=bot).values_list("text", flat=True))
    assert not any("400 euros" in t for t in texts)
    assert any("650 euros" in t for t in texts)
    assert not old_ids & set(Chunk.objects.filter(bot=bot).values_list("pk", flat=True))
    assert Chunk.objects.filter(bot=bot).count() == second.chunks_total
    _, text = top(bot, "daily ATM withdrawal limit abroad")
    assert "650 euros" in text

    again = add_document(bot, kind="markdown", title="Limits", key="limits.md", body=changed)
    assert again.revision == second.revision  # unchanged: not queued again


def test_a_blocked_url_fails_visibly_without_chunks(live_platform: LivePlatform) -> None:
    bot = make_bot()
    document = wait_until_ingested(
        add_document(bot, kind="url", title="Metadata", source_url="http://169.254.169.254/")
    )
    assert document.status == "failed" and "non-public" in document.error
    assert document.chunks.count() == 0


def test_a_bots_pending_documents_are_ingested_in_one_pass_each_on_its_own() -> None:
    """What the first of several queued tasks does (the worker's code, in this process)."""
    bot, other_bot = make_bot(), make_bot()
    travel, hours, empty, changing = (
        add_document(bot, kind=kind, title=title, body=body, queue=False)
        for kind, title, body in [
            ("markdown", "Travel guide", MARKDOWN),
            ("text", "Opening hours", TEXT),
            ("text", "Empty page", "   "),
            ("html", "Refund policy", HTML),
        ]
    )
    elsewhere = add_document(other_bot, kind="faq", title="Card FAQ", body=FAQ, queue=False)

    claims = claim_documents(travel.pk)
    assert [c.document.pk for c in claims] == [travel.pk, hours.pk, empty.pk, changing.pk]
    assert claim_documents(hours.pk) == []  # its own task finds it taken
    reingest_document(changing, queue=False)  # edited while the pass runs: the edit wins
    ingest_claims(claims)

    for document in (travel, hours):
        document.refresh_from_db()
        assert document.status == "ready" and document.chunks_total == document.chunks.count()
    assert top(bot, "when can I call you on a saturday")[0] == "Opening hours"
    assert (
        "400 euros" in top(bot, "how much can I take out of a cash machine in another country")[1]
    )
    empty.refresh_from_db()
    assert empty.status == "failed" and "no text" in empty.error
    changing.refresh_from_db()
    assert changing.status == "pending" and changing.chunks.count() == 0
    elsewhere.refresh_from_db()
    assert elsewhere.status == "pending"  # another bot's documents are not taken
    assert not Chunk.objects.filter(bot=other_bot).exists()


def test_ingest_knowledge_command_ingests_files_with_a_progress_bar(tmp_path: object) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    (folder / "travel.md").write_text(MARKDOWN)
    (folder / "hours.txt").write_text(TEXT)
    bot = make_bot()
    out = StringIO()
    call_command("ingest_knowledge", str(bot.pk), str(folder), "--now", stdout=out, stderr=out)
    output = out.getvalue()
    assert "100%" in output and "travel.md" in output
    documents = Document.objects.filter(bot=bot).order_by("key")
    assert [(d.key, d.status) for d in documents] == [
        ("hours.txt", "ready"),
        ("travel.md", "ready"),
    ]
    status = StringIO()
    call_command("ingest_knowledge", str(bot.pk), "--status", stdout=status)
    assert "travel.md" in status.getvalue() and "ready" in status.getvalue()
