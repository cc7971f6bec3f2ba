"""Tenant access checks: which organizations a user may act in, and with which role.

Every console / dashboard / API query goes through these. A foreign object answers exactly
like a missing one (`NotFound`, a 404), so ids of other tenants leak nothing.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from .models import Membership, Organization

Role = Membership.Role
ADMIN_ROLES = (Role.OWNER, Role.ADMIN)
ALL_ROLES = (Role.OWNER, Role.ADMIN, Role.AGENT)


class NotFound(Exception):
    """Missing or not yours: the caller answers 404 either way."""


def orgs_for_user(
    user: AbstractBaseUser | AnonymousUser, roles: Iterable[str] | None = None
) -> QuerySet[Organization]:
    """Organizations the user belongs to (optionally only where they hold one of `roles`)."""
    if not user.is_authenticated or not user.is_active:
        return Organization.objects.none()
    memberships = Membership.objects.filter(user_id=user.pk)
    if roles is not None:
        memberships = memberships.filter(role__in=list(roles))
    return Organization.objects.filter(pk__in=memberships.values("organization_id"))


def org_ids_for_user(
    user: AbstractBaseUser | AnonymousUser, roles: Iterable[str] | None = None
) -> list[int]:
    return list(orgs_for_user(user, roles).values_list("pk", flat=True))


def role_in(user: AbstractBaseUser | AnonymousUser, organization_id: int) -> str | None:
    """The user's role in the organization, or None when not a member."""
    if not user.is_authenticated or not user.is_active:
        return None
    return (
        Membership.objects.filter(user_id=user.pk, organization_id=organization_id)
        .values_list("role", flat=True)
        .first()
    )


def access_organization(
    user: AbstractBaseUser | AnonymousUser, organization_id: int, roles: Iterable[str] | None = None
) -> Organization:
    """The organization if the user is a member (with one of `roles`); else NotFound."""
    organization = orgs_for_user(user, roles).filter(pk=organization_id).first()
    if organization is None:
        raise NotFound("organization")
    return organization
