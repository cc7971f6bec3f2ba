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


OUR_APPS = {
    "accounts",
    "bots",
    "topics",
    "memory",
    "knowledge",
    "longterm",
    "desk",
    "analytics",
    "api",
}


def test_every_admin_of_our_apps_lists_nothing_of_another_organization() -> None:
    """A populated foreign tenant; the staff user administers an empty organization.

    Every changelist of our apps must then be empty, but for their own organization and
    their own membership.
    """
    from django.contrib import admin as django_admin

    from bots.topics.models import Topic
    from memory.longterm.models import Preference
    from tests.conftest import make_org

    theirs = make_tenant()
    Topic.objects.create(bot=theirs.bot, name="card_arrival")
    Preference.objects.create(contact=theirs.contact, name="language", value="French")
    mine = make_org()
    user = User.objects.create_user("staff-all", password="pw-staff-1", is_staff=True)
    registered = [
        model for model in django_admin.site._registry if model._meta.app_label in OUR_APPS
    ]
    user.user_permissions.set(
        Permission.objects.filter(
            codename__in=[f"view_{model._meta.model_name}" for model in registered]
        )
    )
    own_membership = Membership.objects.create(user=user, organization=mine, role="admin")
    client = Client()
    client.force_login(user)
    expected = {"accounts.organization": [mine.pk], "accounts.membership": [own_membership.pk]}
    shown = {}
    for model in registered:
        meta = model._meta
        response = client.get(f"/admin/{meta.app_label}/{meta.model_name}/")
        assert response.status_code == 200, meta.label
        shown[meta.label_lower] = sorted(row.pk for row in response.context["cl"].result_list)
    assert len(shown) >= 20, "the admin registers every model of our apps"
    assert {label: pks for label, pks in shown.items() if pks} == expected
