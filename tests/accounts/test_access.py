"""Tenant access checks: members see their organizations, everyone else sees nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, User

from accounts.access import NotFound, access_organization, orgs_for_user, role_in
from accounts.models import Membership
from tests.conftest import make_org

pytestmark = pytest.mark.django_db


def test_a_member_sees_only_their_organizations_and_roles_filter_them() -> None:
    mine, other, third = make_org(), make_org(), make_org()
    user = User.objects.create_user("ann", password="pw-ann-123")
    Membership.objects.create(user=user, organization=mine, role=Membership.Role.AGENT)
    Membership.objects.create(user=user, organization=third, role=Membership.Role.ADMIN)

    assert set(orgs_for_user(user)) == {mine, third}
    assert list(orgs_for_user(user, roles=["owner", "admin"])) == [third]
    assert role_in(user, mine.pk) == "agent" and role_in(user, other.pk) is None
    assert access_organization(user, mine.pk) == mine


def test_foreign_missing_and_anonymous_all_answer_not_found() -> None:
    mine, other = make_org(), make_org()
    user = User.objects.create_user("bob", password="pw-bob-123")
    Membership.objects.create(user=user, organization=mine)
    for org_id in (other.pk, 10**9):
        with pytest.raises(NotFound):
            access_organization(user, org_id)
    with pytest.raises(NotFound):
        access_organization(user, mine.pk, roles=["admin"])
    with pytest.raises(NotFound):
        access_organization(AnonymousUser(), mine.pk)
    user.is_active = False
    assert not orgs_for_user(user).exists()
