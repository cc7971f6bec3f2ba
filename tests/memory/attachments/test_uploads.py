"""Uploading over HTTP: what is kept (re-encoded, renamed), what is refused and why, and who
can fetch a stored file (the signed URL, the console's check)."""

from __future__ import annotations

import io
import json
import time
import uuid
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image

from memory.attachments.services import upload_url
from memory.conversations.attachments import signed_url
from memory.conversations.models import Attachment, Conversation
from memory.conversations.services import open_conversation
from memory.longterm.erasure import forget_everything
from tests.conftest import make_bot, make_org, make_widget_key, new_visitor_id
from tests.desk.factories import make_agent

from . import files
from .conftest import stored_files

pytestmark = pytest.mark.django_db
ORIGIN = "https://shop.example"


def start_conversation(org: object | None = None) -> Conversation:
    bot = make_bot(org)  # type: ignore[arg-type]
    make_widget_key(bot, [ORIGIN])
    return open_conversation(bot, new_visitor_id())


def upload(client: Client, conversation: Conversation, data: bytes, name: str) -> object:
    # The declared type is a lie on purpose: only the content decides.
    return client.post(
        upload_url(conversation),
        {"file": SimpleUploadedFile(name, data, content_type="image/png")},
        headers={"Origin": ORIGIN},
    )


def test_a_photo_is_kept_re_encoded_without_its_gps_and_under_a_name_of_ours(
    client: Client,
) -> None:
    conversation = start_conversation()
    response = upload(client, conversation, files.photo_with_gps(), "../../etc/cron.d/x.php")
    assert response.status_code == 201, response.content  # type: ignore[attr-defined]
    assert response["Access-Control-Allow-Origin"] == ORIGIN  # type: ignore[index]
    payload = response.json()["attachment"]  # type: ignore[attr-defined]
    assert (payload["kind"], payload["name"], payload["width"]) == ("image", "x.jpg", 320)
    attachment = Attachment.objects.get(pk=payload["id"])
    assert attachment.message is None and attachment.conversation == conversation
    assert "cron" not in attachment.key and attachment.key.endswith(".jpg")

    served = client.get(payload["url"])
    assert served.status_code == 200
    assert served["Content-Type"] == "image/jpeg"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in served["Content-Security-Policy"]
    body = b"".join(served.streaming_content)  # type: ignore[attr-defined]
    kept = Image.open(io.BytesIO(body))
    assert kept.size == (320, 240)
    assert not kept.getexif() and b"PhoneMaker" not in body and b"Exif" not in body


@pytest.mark.parametrize(
    ("name", "make", "code", "says"),
    [
        (
            "big.txt",
            lambda: b"a" * (settings.ATTACHMENT_MAX_BYTES + 100 * 1024),
            "too_large",
            "limit",
        ),
        ("bomb.png", files.png_bomb, "too_many_pixels", "pixels; the limit is"),
        ("logo.png", lambda: files.SVG_WITH_SCRIPT, "type_not_allowed", "image/svg+xml"),
        ("photo.jpg", files.zip_archive, "type_not_allowed", "application/zip"),
        ("cat.png", files.png_zip_polyglot, "polyglot", "another kind of file"),
    ],
    ids=["over-the-cap", "png-bomb", "svg-with-script", "zip-named-jpg", "png-zip-polyglot"],
)
def test_a_refused_file_gets_a_clear_error_and_nothing_is_stored(
    client: Client, name: str, make: object, code: str, says: str
) -> None:
    conversation = start_conversation()
    before = stored_files()
    started = time.monotonic()
    response = upload(client, conversation, make(), name)  # type: ignore[operator]
    assert response.status_code in (413, 422), response.content  # type: ignore[attr-defined]
    error = response.json()["error"]  # type: ignore[attr-defined]
    assert error["code"] == code and says in error["detail"], error
    assert time.monotonic() - started < 10  # the bomb is refused from its header
    assert not Attachment.objects.exists()
    assert stored_files() == before


def test_uploads_from_one_address_are_rate_limited_and_nothing_more_is_stored(
    settings: Any,
) -> None:
    """Each upload costs a sniff and a decode: one address gets SWITCHBOARD_UPLOAD_RATE of
    them, new conversations or not; then 429 before the body is read."""
    settings.UPLOAD_RATE = "3/m"
    address = f"198.51.100.{uuid.uuid4().int % 250 + 1}"
    flooder = Client(REMOTE_ADDR=address)
    for _n in range(3):
        answer = upload(flooder, start_conversation(), files.screenshot("hello"), "a.png")
        assert answer.status_code == 201  # type: ignore[attr-defined]
    before = (Attachment.objects.count(), stored_files())
    refused = upload(flooder, start_conversation(), files.screenshot("hello"), "a.png")
    assert refused.status_code == 429  # type: ignore[attr-defined]
    assert refused.json()["error"]["code"] == "too_many_uploads"  # type: ignore[attr-defined]
    assert refused["Access-Control-Allow-Origin"] == ORIGIN  # type: ignore[index]  # the widget reads it
    assert (Attachment.objects.count(), stored_files()) == before
    # Another address is not limited.
    other = Client(REMOTE_ADDR=f"192.0.2.{uuid.uuid4().int % 250 + 1}")
    answer = upload(other, start_conversation(), files.screenshot("hello"), "a.png")
    assert answer.status_code == 201  # type: ignore[attr-defined]


def test_an_upload_link_of_another_conversation_or_site_is_refused(client: Client) -> None:
    conversation = start_conversation()
    url = upload_url(conversation)
    tampered = url.replace(url.split("/")[-1][:4], "AAAA", 1)
    response = client.post(tampered, {"file": SimpleUploadedFile("a.txt", b"hi")})
    assert response.status_code == 403
    response = client.post(
        url,
        {"file": SimpleUploadedFile("a.txt", b"hi")},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden_origin"
    assert not Attachment.objects.exists()


def _stored(client: Client, conversation: Conversation, text: str = "order 1234") -> Attachment:
    response = upload(client, conversation, text.encode(), "notes.txt")
    assert response.status_code == 201, response.content  # type: ignore[attr-defined]
    return Attachment.objects.get(pk=response.json()["attachment"]["id"])  # type: ignore[attr-defined]


def test_another_visitor_cannot_turn_their_link_into_one_for_this_file(client: Client) -> None:
    mine = _stored(client, start_conversation(), "my card number")
    theirs = _stored(client, start_conversation(), "their notes")
    assert client.get(signed_url(mine)).status_code == 200
    # The other visitor's own link, pointed at this file's id: the signature no longer holds.
    their_url = signed_url(theirs)
    token = their_url.rstrip("/").split("/")[-1]
    _payload, stamp, signature = token.split(":")
    # (Replacing the id's digits inside the base64 payload only worked for some ids.)
    ids = json.dumps([mine.pk, mine.conversation_id], separators=(",", ":")).encode()
    forged = their_url.replace(token, f"{signing.b64_encode(ids).decode()}:{stamp}:{signature}")
    assert forged != their_url
    assert client.get(forged).status_code == 404


def test_an_expired_link_no_longer_opens_the_file(client: Client) -> None:
    attachment = _stored(client, start_conversation())
    an_hour_and_more_ago = time.time() - settings.ATTACHMENT_URL_TTL_S - 60
    with mock.patch("django.core.signing.time.time", return_value=an_hour_and_more_ago):
        old_url = signed_url(attachment)
    assert client.get(old_url).status_code == 404
    assert client.get(signed_url(attachment)).status_code == 200


def test_only_the_organizations_agents_open_a_file_in_the_console(client: Client) -> None:
    org = make_org()
    attachment = _stored(client, start_conversation(org))
    url = f"/console/attachments/{attachment.pk}"
    client.force_login(make_agent(make_org()))  # an agent of another organization
    assert client.get(url).status_code == 404
    client.force_login(make_agent(org))
    response = client.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"order 1234"  # type: ignore[attr-defined]


def test_the_erased_customers_files_are_deleted(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    conversation = start_conversation()
    attachment = _stored(client, conversation)
    path = Path(settings.STORAGES["attachments"]["OPTIONS"]["location"]) / attachment.key
    assert path.exists()
    with django_capture_on_commit_callbacks(execute=True):
        forget_everything(conversation.contact, messages=True)
    assert not Attachment.objects.filter(pk=attachment.pk).exists()
    assert not path.exists()
