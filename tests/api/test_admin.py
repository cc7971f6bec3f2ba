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


def test_every_admin_form_refuses_another_organizations_ids_in_its_choices() -> None:
    """Each add form (a change form where adding is off) of our apps, posted with a foreign
    tenant's id in every foreign-key and many-to-many field, answers with a validation error
    on each of those fields; nothing is saved."""
    from django.contrib import admin as django_admin
    from django.forms import ModelChoiceField, ModelMultipleChoiceField
    from django.test import RequestFactory

    from api.keys import create_api_key
    from tests.conftest import make_org

    theirs = make_tenant()
    their_member = User.objects.create_user("their-agent", password="pw-their-1")
    Membership.objects.create(user=their_member, organization=theirs.org, role="agent")
    their_hook = WebhookEndpoint.objects.create(
        organization=theirs.org, url="https://theirs.example/h", events=["message.created"]
    )
    foreign = {
        "accounts.organization": theirs.org.pk,
        "auth.user": their_member.pk,
        "bots.bot": theirs.bot.pk,
        "memory.contact": theirs.contact.pk,
        "memory.conversation": theirs.conversation.pk,
        "memory.message": theirs.question.pk,
        "api.webhookendpoint": their_hook.pk,
    }
    mine = make_org()
    user = User.objects.create_user("staff-forms", password="pw-staff-1", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=OUR_APPS).exclude(
            codename__startswith="delete_"
        )
    )
    Membership.objects.create(user=user, organization=mine, role="admin")
    create_api_key(mine.pk, "mine", "read")  # the key admin has change forms only
    client = Client()
    client.force_login(user)
    request = RequestFactory().get("/admin/")
    request.user = user

    checked: dict[str, list[str]] = {}
    for model, model_admin in django_admin.site._registry.items():
        meta = model._meta
        if meta.app_label not in OUR_APPS:
            continue
        if model_admin.has_add_permission(request):
            url = f"/admin/{meta.app_label}/{meta.model_name}/add/"
        elif model_admin.has_change_permission(request):
            own = model_admin.get_queryset(request).first()
            if own is None:
                continue
            url = f"/admin/{meta.app_label}/{meta.model_name}/{own.pk}/change/"
        else:
            continue
        page = client.get(url)
        assert page.status_code == 200, url
        fields = {
            name: field
            for name, field in page.context["adminform"].form.fields.items()
            if isinstance(field, ModelChoiceField)
        }
        if not fields:
            continue
        data: dict[str, object] = {}
        for name, field in fields.items():
            label = field.queryset.model._meta.label_lower
            assert label in foreign, f"{meta.label}.{name}: add a foreign {label} to this test"
            data[name] = (
                [foreign[label]] if isinstance(field, ModelMultipleChoiceField) else foreign[label]
            )
        before = model._default_manager.count()
        response = client.post(url, data)
        assert response.status_code == 200, f"{url} accepted a foreign id"
        errors = response.context["adminform"].form.errors
        for name in fields:
            assert name in errors, f"{meta.label}.{name} accepted another organization's id"
            assert "valid choice" in " ".join(errors[name]), (meta.label, name, errors[name])
        assert model._default_manager.count() == before
        checked[meta.label_lower] = sorted(fields)

    # The forms that carry such choices, each with every field it has.
    assert checked["accounts.membership"] == ["organization", "user"]
    assert checked["memory.conversation"] == ["assignee", "bot", "contact", "organization"]
    assert checked["longterm.memoryitem"] == ["contact", "source_message"]
    assert checked["memory.feedback"] == ["contact", "message"]
    assert checked["api.apikey"] == ["organization"]
    assert len(checked) >= 12, checked
