"""The demo bank's help articles: one per BANKING77 intent, seeded idempotently."""

from __future__ import annotations

import json

import pytest

from bots.demo.knowledge import ARTICLES, seed_demo_knowledge
from bots.topics.demo import BANKING77 as BANKING77_DIR
from memory.knowledge.ingestion import ingest_document
from memory.knowledge.models import Document
from tests.conftest import make_bot

pytestmark = pytest.mark.django_db

BANKING77 = BANKING77_DIR / "categories.json"


def test_there_is_one_article_per_banking77_intent() -> None:
    if not BANKING77.exists():
        pytest.skip("BANKING77 data not present")
    assert set(ARTICLES) == set(json.loads(BANKING77.read_text()))
    assert all(len(body.split()) >= 15 for _, body in ARTICLES.values())


def test_seeding_twice_adds_77_documents_once_and_they_ingest() -> None:
    bot = make_bot()
    assert seed_demo_knowledge(bot).endswith("77 queued for ingestion")
    assert seed_demo_knowledge(bot).endswith("0 queued for ingestion")
    documents = Document.objects.filter(bot=bot)
    assert documents.count() == 77
    first = documents.get(key="banking77/lost_or_stolen_card.md")
    ingested = ingest_document(first.pk)
    assert ingested is not None and ingested.status == "ready"
    assert "Freeze the card" in ingested.chunks.get().text
