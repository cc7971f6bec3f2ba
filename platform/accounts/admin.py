from django.contrib import admin

from switchboard.admin_scope import OrganizationScopedAdmin

from .models import Membership, Organization


@admin.register(Organization)
class OrganizationAdmin(OrganizationScopedAdmin[Organization]):
    organization_path = "id"
    list_display = ("name", "slug", "created_at")
    prepopulated_fields = {"slug": ("name",)}


@admin.register(Membership)
class MembershipAdmin(OrganizationScopedAdmin[Membership]):
    list_display = ("user", "organization", "role", "created_at")
    list_filter = ("role",)
