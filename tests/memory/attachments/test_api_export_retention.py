"""Attachments outside the chat: on messages in the REST API and in the `message.created`
webhook (metadata and a signed link, never the bytes), in the customer's export, and deleted
by beat's retention sweep per organization."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from api.models import WebhookDelivery, WebhookEndpoint
from desk.intake import accept_customer_message
from desk.selectors import export_contact
from memory.attachments.services import store_upload
from memory.attachments.tasks import delete_expired_attachments
from memory.conversations.models import Attachment, Conversation
from memory.conversations.services import open_conversation
from tests.api.factories import bearer, make_tenant
from tests.conftest import make_bot, make_org, new_visitor_id

from . import files
from .conftest import stored_files

TEXT = b"order 1234, card ending 9876"
METADATA = {
    "id", "kind", "content_type", "name", "size", "width", "height", "status", "created_at",
    "url", "url_expires_in",
}  # fmt: skip


def _no_bytes(data: Any) -> None:
    dumped = json.dumps(data, default=str)
    assert TEXT.decode() not in dumped or '"text"' in dumped  # only as read text, if at all
    assert base64.b64encode(TEXT).decode() not in dumped


@pytest.mark.django_db(transaction=True)  # the webhook's event is dispatched after commit
def test_a_message_with_a_file_in_the_api_and_the_webhook_carries_metadata_and_a_link(
    client: Client,
) -> None:
    tenant = make_tenant()
    endpoint = WebhookEndpoint.objects.create(
        organization=tenant.org, url="https://hooks.example/x", events=["message.created"]
    )
    conversation = open_conversation(tenant.bot, new_visitor_id())
    shot = store_upload(conversation, files.screenshot("Error 0x45"), "screen.png")
    note = store_upload(conversation, TEXT, "notes.txt")
    message, _ = accept_customer_message(conversation, "c1", "see these", [shot.pk, note.pk])

    delivery = WebhookDelivery.objects.get(endpoint=endpoint, payload__data__message_id=message.pk)
    sent = delivery.payload["data"]["attachments"]
    assert [(a["id"], a["kind"], a["name"]) for a in sent] == [
        (shot.pk, "image", "screen.png"),
        (note.pk, "text", "notes.txt"),
    ]
    assert set(sent[0]) == METADATA and sent[0]["width"] == 1280
    assert sent[1]["url_expires_in"] == settings.ATTACHMENT_URL_TTL_S
    _no_bytes(delivery.payload)
    assert client.get(sent[1]["url"]).status_code == 200  # the link opens the file

    answer = client.get(
        f"/api/conversations/{conversation.pk}/messages", **bearer(tenant.read_key)
    ).json()
    (listed,) = [m for m in answer["items"] if m["id"] == message.pk]
    assert [a["id"] for a in listed["attachments"]] == [shot.pk, note.pk]
    assert set(listed["attachments"][1]) == METADATA | {"text"}
    served = client.get(listed["attachments"][1]["url"])
    assert b"".join(served.streaming_content) == TEXT  # type: ignore[attr-defined]
    assert all(m["attachments"] == [] for m in answer["items"] if m["id"] != message.pk)
    # Another organization's key does not see the conversation at all.
    other = make_tenant()
    assert (
        client.get(
            f"/api/conversations/{conversation.pk}/messages", **bearer(other.read_key)
        ).status_code
        == 404
    )


@pytest.mark.django_db
def test_the_customers_export_lists_their_files_with_links(client: Client) -> None:
    conversation = open_conversation(make_bot(), new_visitor_id())
    note = store_upload(conversation, TEXT, "notes.txt")
    Attachment.objects.filter(pk=note.pk).update(status="done", text=TEXT.decode())
    accept_customer_message(conversation, "c1", "", [note.pk])
    exported = export_contact(conversation.contact_id)
    (message,) = exported["conversations"][0]["messages"]
    (listed,) = message["attachments"]
    assert (listed["name"], listed["kind"], listed["text"]) == ("notes.txt", "text", TEXT.decode())
    assert client.get(listed["url"]).status_code == 200
    json.dumps(exported)  # JSON-ready as it is sent


@pytest.mark.django_db
def test_beats_sweep_deletes_files_past_each_organizations_retention(
    django_capture_on_commit_callbacks: Any, settings: Any
) -> None:
    settings.ATTACHMENT_RETENTION_DAYS = 0  # the installation keeps files by default
    assert settings.CELERY_BEAT_SCHEDULE["delete-expired-attachments"]["task"] == (
        "memory.attachments.tasks.delete_expired_attachments"
    )
    short, default, keeper = make_org(), make_org(), make_org()
    short.attachment_retention_days = 7
    short.save()
    keeper.attachment_retention_days = 0
    keeper.save()
    now = timezone.now()

    def sent(org: object, days_old: float, linked: bool = True) -> Attachment:
        conversation: Conversation = open_conversation(make_bot(org), new_visitor_id())  # type: ignore[arg-type]
        attachment = store_upload(conversation, b"hello " + str(days_old).encode(), "a.txt")
        if linked:
            accept_customer_message(conversation, f"c{attachment.pk}", "x", [attachment.pk])
        Attachment.objects.filter(pk=attachment.pk).update(
            created_at=now - timedelta(days=days_old)
        )
        return attachment

    before = stored_files()  # other tests' files stay in the storage
    old, recent = sent(short, 8), sent(short, 6)
    default_old, keeper_old = sent(default, 400), sent(keeper, 400)
    unsent_old, unsent_new = sent(keeper, 2, linked=False), sent(keeper, 0.5, linked=False)
    mine = stored_files() - before
    assert len(mine) == 6

    with django_capture_on_commit_callbacks(execute=True):
        assert delete_expired_attachments() == 2  # the task beat runs, run here
    left = set(Attachment.objects.values_list("pk", flat=True))
    assert left == {recent.pk, default_old.pk, keeper_old.pk, unsent_new.pk}
    assert old.pk not in left and unsent_old.pk not in left
    kept = {p.name for p in stored_files() & mine}
    assert kept == {a.key.split("/")[-1] for a in (recent, default_old, keeper_old, unsent_new)}
    # The message whose file went stays, with its text.
    assert Conversation.objects.get(pk=old.conversation_id).messages.filter(text="x").exists()

    # The installation's default applies to organizations without their own setting.
    settings.ATTACHMENT_RETENTION_DAYS = 365
    with django_capture_on_commit_callbacks(execute=True):
        assert delete_expired_attachments() == 1
    assert not Attachment.objects.filter(pk=default_old.pk).exists()
    assert Attachment.objects.filter(pk=keeper_old.pk).exists()
