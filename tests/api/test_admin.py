"""The admin shows a staff user only the organizations they own or administer."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from accounts.models import Membership, Organization
from api.models import ApiKey, WebhookDelivery, WebhookEndpoint

from .factories import make_tenant

pytestmark = pytest.mark.django_db


def staff_admin_of(org: Organization) -> Client:
    user = User.objects.create_user(f"staff-{org.pk}", password="pw-staff-1", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="api", codename__in=[
                "view_apikey", "change_apikey", "view_webhookendpoint",
                "change_webhookendpoint", "view_webhookdelivery",
            ],
        )
    )  # fmt: skip
    Membership.objects.create(user=user, organization=org, role="admin")
    client = Client()
    client.force_login(user)
    return client


def test_a_staff_admin_sees_and_opens_only_their_organizations_rows() -> None:
    mine, theirs = make_tenant(), make_tenant()
    my_hook = WebhookEndpoint.objects.create(
        organization=mine.org, url="https://mine.example/h", events=["message.created"]
    )
    their_hook = WebhookEndpoint.objects.create(
        organization=theirs.org, url="https://theirs.example/h", events=["message.created"]
    )
    WebhookDelivery.objects.create(endpoint=their_hook, event="message.created", payload={})
    client = staff_admin_of(mine.org)

    keys = client.get("/admin/api/apikey/")
    assert keys.status_code == 200
    shown = {key.pk for key in keys.context["cl"].result_list}
    assert shown == set(ApiKey.objects.filter(organization=mine.org).values_list("pk", flat=True))
    hooks = client.get("/admin/api/webhookendpoint/").context["cl"].result_list
    assert [h.pk for h in hooks] == [my_hook.pk]
    assert list(client.get("/admin/api/webhookdelivery/").context["cl"].result_list) == []

    # Someone else's row: the admin answers as if it did not exist.
    response = client.get(f"/admin/api/webhookendpoint/{their_hook.pk}/change/")
    assert response.status_code == 302
    theirs_key = ApiKey.objects.filter(organization=theirs.org).first()
    assert theirs_key is not None
    assert client.get(f"/admin/api/apikey/{theirs_key.pk}/change/").status_code == 302
