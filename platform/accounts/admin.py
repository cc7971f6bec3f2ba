from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from accounts.admin_scope import OrganizationScopedAdmin

from .models import Membership, Organization


@admin.register(Organization)
class OrganizationAdmin(OrganizationScopedAdmin[Organization]):
    organization_path = "id"
    list_display = ("name", "slug", "created_at")
    prepopulated_fields = {"slug": ("name",)}

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # The model allow-list is the operator's (a superuser's), never the tenant's.
        readonly = tuple(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            readonly += ("allowed_models",)
        return readonly


@admin.register(Membership)
class MembershipAdmin(OrganizationScopedAdmin[Membership]):
    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("role",)
