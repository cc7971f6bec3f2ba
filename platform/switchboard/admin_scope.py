"""Django admin scoped to the staff user's organizations.

`OrganizationScopedAdmin` shows, changes and deletes only rows of organizations where the
staff user is an owner or admin (superusers see everything), and offers only those
organizations (and their bots) in foreign-key choices. Set `organization_path` to the lookup
from the model to its organization, e.g. "bot__organization".
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from django.contrib import admin
from django.db.models import ForeignKey, Model, QuerySet
from django.forms import ModelChoiceField
from django.http import HttpRequest

M = TypeVar("M", bound=Model)


def admin_org_ids(request: HttpRequest) -> list[int] | None:
    """None for a superuser (no limit), else the organizations the user administers."""
    if request.user.is_superuser:
        return None
    from accounts.access import ADMIN_ROLES, org_ids_for_user

    return org_ids_for_user(request.user, ADMIN_ROLES)


class OrganizationScopedAdmin(admin.ModelAdmin[M], Generic[M]):
    organization_path = "organization"

    def get_queryset(self, request: HttpRequest) -> QuerySet[M]:
        rows = super().get_queryset(request)
        org_ids = admin_org_ids(request)
        if org_ids is None:
            return rows
        return rows.filter(**{f"{self.organization_path}__in": org_ids})

    def formfield_for_foreignkey(
        self, db_field: ForeignKey[Any, Any], request: HttpRequest, **kwargs: Any
    ) -> ModelChoiceField[Any] | None:
        org_ids = admin_org_ids(request)
        if org_ids is not None:
            label = db_field.related_model._meta.label_lower
            if label == "accounts.organization":
                kwargs["queryset"] = db_field.related_model._default_manager.filter(pk__in=org_ids)
            elif label == "bots.bot":
                kwargs["queryset"] = db_field.related_model._default_manager.filter(
                    organization_id__in=org_ids
                )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
