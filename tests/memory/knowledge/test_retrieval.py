"""Hybrid retrieval: tenants stay apart in SQL (canaries), exact terms and meaning both count."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from bots.models import Bot
from memory.knowledge.ingestion import ingest_document
from memory.knowledge.models import Document
from memory.knowledge.selectors import retrieve_chunks
from memory.knowledge.services import add_document
from tests.conftest import make_bot, make_org

pytestmark = pytest.mark.django_db

CANARY = "The vault access phrase is {word}. Canary {word} protects the {word} account."


def ingest(bot: Bot, title: str, body: str, kind: str = "text") -> Document:
    document = add_document(bot, kind=kind, title=title, body=body)
    done = ingest_document(document.pk)  # in this process: on_commit never fires here
    assert done is not None and done.status == "ready", done and done.error
    return done


@pytest.mark.parametrize("exact", [True, False], ids=["exact path", "approximate (hnsw) path"])
def test_one_tenants_chunks_never_come_back_for_another(exact: bool) -> None:
    org_a, org_b = make_org(), make_org()
    bot_a1, bot_a2, bot_b = make_bot(org_a), make_bot(org_a), make_bot(org_b)
    words = {bot_a1.pk: "albatross", bot_a2.pk: "bumblebee", bot_b.pk: "chameleon"}
    for bot in (bot_a1, bot_a2, bot_b):
        ingest(bot, f"Secrets of {bot.pk}", CANARY.format(word=words[bot.pk]))
        ingest(bot, "Opening hours", "Our branches open at nine and close at five on weekdays.")

    for bot in (bot_a1, bot_a2, bot_b):
        for word in words.values():
            hits = retrieve_chunks(bot, f"what is the vault access phrase {word}", exact=exact)
            assert hits, "the bot's own documents are found"
            found = " ".join(h.text for h in hits)
            for other_bot, other_word in words.items():
                if other_bot != bot.pk:
                    assert other_word not in found, (bot.pk, word)
            assert words[bot.pk] in found
            assert {h.document_id for h in hits} <= set(
                Document.objects.filter(bot=bot).values_list("pk", flat=True)
            )


def test_a_bot_whose_org_changed_does_not_see_its_old_chunks() -> None:
    """Bot and organization are both conditions: a chunk must match both to come back."""
    org_a, org_b = make_org(), make_org()
    bot = make_bot(org_a)
    ingest(bot, "Canary", CANARY.format(word="zeppelin"))
    bot.organization = org_b
    bot.save(update_fields=["organization"])
    assert retrieve_chunks(bot, "vault access phrase zeppelin") == []


def test_the_tenant_filter_is_in_the_sql_itself() -> None:
    bot = make_bot()
    ingest(bot, "Opening hours", "Our branches open at nine and close at five on weekdays.")
    with CaptureQueriesContext(connection) as queries:
        retrieve_chunks(bot, "when do branches open")
    search = next(q["sql"] for q in queries.captured_queries if "knowledge_chunk c" in q["sql"])
    assert search.count(f"c.bot_id = {bot.pk}") == 3
    assert search.count(f"c.organization_id = {bot.organization_id}") == 3


def test_an_exact_term_and_a_paraphrase_are_both_found() -> None:
    bot = make_bot()
    ingest(bot, "Router manual", "Model ZX-4411 routers reset when the pin button is held.")
    ingest(bot, "Card delivery", "New cards arrive by post within five working days.")
    ingest(bot, "Exchange rates", "We convert foreign payments at the network's daily rate.")
    assert retrieve_chunks(bot, "ZX-4411")[0].title == "Router manual"
    assert retrieve_chunks(bot, "how long until my new card shows up")[0].title == "Card delivery"
    # Only stop words: no full-text side at all, the vector side still answers.
    assert len(retrieve_chunks(bot, "what is it about?")) == 3
