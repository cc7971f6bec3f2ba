"""Knowledge documents and contacts through the API: scoped to the key's organization."""

from __future__ import annotations

import io

import pytest
from django.test import Client

from memory.conversations.models import Contact, Conversation
from memory.knowledge.models import Document

from .factories import bearer, make_tenant

pytestmark = pytest.mark.django_db


def test_a_document_added_through_the_api_is_queued_and_its_status_readable() -> None:
    tenant = make_tenant()
    client = Client()
    response = client.post(
        "/api/knowledge/documents",
        data={
            "bot_id": tenant.bot.pk,
            "kind": "markdown",
            "title": "Card delivery",
            "body": "# Card delivery\n\nCards arrive within 5 working days.",
            "key": "card-delivery",
            "questions": ["Where is my card?", "  ", "When will my card come?"],
        },
        content_type="application/json",
        **bearer(tenant.write_key),
    )
    assert response.status_code == 201
    created = response.json()
    assert (created["status"], created["title"]) == ("pending", "Card delivery")
    assert created["questions"] == ["Where is my card?", "When will my card come?"]
    status = client.get(
        f"/api/knowledge/documents/{created['id']}", **bearer(tenant.read_key)
    ).json()
    assert status["id"] == created["id"] and status["kind"] == "markdown"
    listed = client.get("/api/knowledge/documents", **bearer(tenant.read_key)).json()
    assert [d["id"] for d in listed["items"]] == [created["id"]]


def test_an_upload_takes_a_pdf_or_text_and_refuses_binary_junk() -> None:
    tenant = make_tenant()
    client = Client()
    text = io.BytesIO(b"# Fees\n\nNo monthly fee.")
    text.name = "fees.md"
    upload = client.post(
        "/api/knowledge/documents/upload",
        data={"bot_id": tenant.bot.pk, "title": "Fees", "file": text},
        **bearer(tenant.write_key),
    )
    assert upload.status_code == 201, upload.content
    assert upload.json()["kind"] == "markdown"
    junk = io.BytesIO(b"\xff\xfe\x00\x01binary")
    junk.name = "blob.bin"
    refused = client.post(
        "/api/knowledge/documents/upload",
        data={"bot_id": tenant.bot.pk, "title": "Junk", "file": junk},
        **bearer(tenant.write_key),
    )
    assert refused.status_code == 415
    assert refused.json()["error"]["code"] == "unsupported_media_type"
    assert Document.objects.filter(organization=tenant.org).count() == 1


def test_another_organizations_documents_and_contacts_answer_404() -> None:
    mine, theirs = make_tenant(), make_tenant()
    document = Document.objects.create(
        organization=theirs.org, bot=theirs.bot, title="Secret", kind="text", body="x"
    )
    client = Client()
    auth = bearer(mine.write_key)
    for url in (
        f"/api/knowledge/documents/{document.pk}",
        f"/api/contacts/{theirs.contact.pk}",
        f"/api/contacts/{theirs.contact.pk}/export",
    ):
        assert client.get(url, **auth).status_code == 404, url
    assert (
        client.post(
            f"/api/contacts/{theirs.contact.pk}/erase",
            data={"messages": True},
            content_type="application/json",
            **auth,
        ).status_code
        == 404
    )
    assert client.delete(f"/api/knowledge/documents/{document.pk}", **auth).status_code == 404
    assert (
        client.post(
            "/api/knowledge/documents",
            data={"bot_id": theirs.bot.pk, "kind": "text", "title": "x", "body": "y"},
            content_type="application/json",
            **auth,
        ).status_code
        == 404
    )
    assert Contact.objects.filter(pk=theirs.contact.pk).exists()
    assert Document.objects.filter(pk=document.pk).exists()


def test_a_contact_export_holds_their_conversation_and_erasure_removes_it() -> None:
    tenant = make_tenant()
    client = Client()
    export = client.get(
        f"/api/contacts/{tenant.contact.pk}/export", **bearer(tenant.read_key)
    ).json()
    texts = [m["text"] for c in export["conversations"] for m in c["messages"]]
    assert texts == ["Where is my card?", "It is on its way."]
    assert (
        client.post(
            f"/api/contacts/{tenant.contact.pk}/erase",
            data={"messages": True},
            content_type="application/json",
            **bearer(tenant.read_key),
        ).status_code
        == 403
    )
    erased = client.post(
        f"/api/contacts/{tenant.contact.pk}/erase",
        data={"messages": True},
        content_type="application/json",
        **bearer(tenant.write_key),
    )
    assert erased.status_code == 204
    assert not Contact.objects.filter(pk=tenant.contact.pk).exists()
    assert not Conversation.objects.filter(pk=tenant.conversation.pk).exists()
