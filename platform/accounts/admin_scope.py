"""Django admin scoped to the staff user's organizations.

`OrganizationScopedAdmin` shows, changes and deletes only rows of organizations where the
staff user is an owner or admin (superusers see everything), and offers only those
organizations' rows in every foreign-key and many-to-many choice (a posted foreign id is then
"not a valid choice"). Set `organization_path` to the lookup from the model to its
organization, e.g. "bot__organization". A related model with no known path offers nothing.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from django.contrib import admin
from django.contrib.admin.options import BaseModelAdmin
from django.db.models import ForeignKey, ManyToManyField, Model, QuerySet
from django.forms import ModelChoiceField, ModelMultipleChoiceField
from django.http import HttpRequest

from accounts.access import ADMIN_ROLES, org_ids_for_user

M = TypeVar("M", bound=Model)

# Related models that have no admin of their own here (or whose admin is Django's).
_ORGANIZATION_PATHS = {
    "accounts.organization": "pk",
    "auth.user": "memberships__organization",
    "memory.message": "conversation__organization",
}


def admin_org_ids(request: HttpRequest) -> list[int] | None:
    """None for a superuser (no limit), else the organizations the user administers."""
    if request.user.is_superuser:
        return None
    return org_ids_for_user(request.user, ADMIN_ROLES)


class ScopedChoices(BaseModelAdmin[Any]):
    """Every foreign-key and many-to-many choice limited to the staff user's organizations
    (for admins and their inlines alike)."""

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField[Any] | None:
        org_ids = admin_org_ids(request)
        if org_ids is not None:
            kwargs["queryset"] = scoped_choices(db_field.related_model, org_ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(
        self, db_field: ManyToManyField[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelMultipleChoiceField[Any] | None:
        org_ids = admin_org_ids(request)
        if org_ids is not None:
            kwargs["queryset"] = scoped_choices(db_field.related_model, org_ids)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class OrganizationScopedAdmin(ScopedChoices, admin.ModelAdmin[M], Generic[M]):
    organization_path = "organization"

    def get_queryset(self, request: HttpRequest) -> QuerySet[M]:
        rows = super().get_queryset(request)
        org_ids = admin_org_ids(request)
        if org_ids is None:
            return rows
        return rows.filter(**{f"{self.organization_path}__in": org_ids})


def organization_path(model: type[Model]) -> str | None:
    """The lookup from a model to its organization, or None when it has none."""
    label = model._meta.label_lower
    if label in _ORGANIZATION_PATHS:
        return _ORGANIZATION_PATHS[label]
    model_admin = admin.site._registry.get(model)
    if isinstance(model_admin, OrganizationScopedAdmin):
        return model_admin.organization_path
    return None


def scoped_choices(model: type[Model] | str, org_ids: list[int]) -> QuerySet[Any]:
    """The rows of `model` a staff user of these organizations may pick; none if unknown."""
    assert not isinstance(model, str), "related models are resolved once apps are ready"
    rows = model._default_manager.all()
    path = organization_path(model)
    if path is None:
        return rows.none()
    return rows.filter(**{f"{path}__in": org_ids}).distinct()
