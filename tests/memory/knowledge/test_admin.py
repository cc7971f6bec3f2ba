"""Ingestion status and progress are visible in the admin."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from memory.knowledge.ingestion import ingest_document
from memory.knowledge.services import add_document
from tests.conftest import make_bot
from tests.memory.knowledge.documents import MARKDOWN

pytestmark = pytest.mark.django_db


def test_the_admin_lists_documents_with_status_and_progress(client: Client) -> None:
    bot = make_bot()
    ready = add_document(bot, kind="markdown", title="Travel guide", body=MARKDOWN)
    ingest_document(ready.pk)
    add_document(bot, kind="text", title="Waiting doc", body="Not ingested yet.")
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    page = client.get("/admin/knowledge/document/").content.decode()
    ready.refresh_from_db()
    assert ready.chunks_total == 3  # the intro and two sections
    assert "Travel guide" in page and "Ready" in page and "3 chunks" in page
    assert "Waiting doc" in page and "Waiting to be ingested" in page
