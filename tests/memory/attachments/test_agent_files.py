"""Agents attach files to their replies from the console: the customers' checks and storage,
only in a conversation they own, and the customer gets a signed link to it."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import prefetch_related_objects
from django.test import Client

from desk.services import claim_conversation, send_agent_message
from memory.conversations.frames import message_payload
from memory.conversations.models import Attachment
from tests.conftest import make_org
from tests.desk.factories import make_agent

from . import files
from .conftest import stored_files
from .test_uploads import start_conversation

pytestmark = pytest.mark.django_db


def post(client: Client, conversation_id: int, data: bytes, name: str) -> Any:
    return client.post(
        f"/console/c/{conversation_id}/uploads", {"file": SimpleUploadedFile(name, data)}
    )


def test_an_agents_file_goes_out_with_their_reply_and_the_customer_can_open_it(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    org = make_org()
    conversation = start_conversation(org)
    agent = make_agent(org)
    client.force_login(agent)
    # Not theirs yet: nothing is stored.
    assert post(client, conversation.pk, files.screenshot("Step 2"), "a.png").status_code == 409
    claim_conversation(agent, conversation.pk)
    response = post(client, conversation.pk, files.photo_with_gps(), "../steps.jpg")
    assert response.status_code == 201, response.content
    shown = response.json()["attachment"]
    assert shown["name"] == "steps.jpg" and shown["url"] == f"/console/attachments/{shown['id']}"

    with django_capture_on_commit_callbacks(execute=False):
        message = send_agent_message(agent, conversation.pk, "", attachment_ids=[shown["id"]])
    stored = Attachment.objects.get(pk=shown["id"])
    assert (stored.message, stored.role, stored.author) == (message, "agent", agent)
    prefetch_related_objects([message], "attachments")
    payload = message_payload(message)
    assert [a["id"] for a in payload["attachments"]] == [stored.pk]
    client.logout()  # the customer: no session, only the signed link from the frame
    served = client.get(payload["attachments"][0]["url"])
    assert served.status_code == 200 and served["Content-Type"] == "image/jpeg"
    body = b"".join(served.streaming_content)  # type: ignore[attr-defined]
    assert b"PhoneMaker" not in body  # re-encoded like a customer's


def test_an_agents_refused_file_or_another_organizations_agent_stores_nothing(
    client: Client,
) -> None:
    org = make_org()
    conversation = start_conversation(org)
    agent = make_agent(org)
    claim_conversation(agent, conversation.pk)
    before = stored_files()
    client.force_login(agent)
    refused = post(client, conversation.pk, files.png_zip_polyglot(), "cat.png")
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "polyglot"
    refused = post(client, conversation.pk, files.SVG_WITH_SCRIPT, "logo.svg")
    assert refused.json()["error"]["code"] == "type_not_allowed"
    client.force_login(make_agent(make_org()))
    assert post(client, conversation.pk, b"hello", "a.txt").status_code == 404
    assert not Attachment.objects.exists() and stored_files() == before
