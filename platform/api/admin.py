"""Admin for API keys and webhooks (the delivery log included), scoped to the staff user's orgs."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.admin_scope import OrganizationScopedAdmin, ScopedChoices

from .keys import revoke_api_key
from .models import ApiKey, WebhookDelivery, WebhookEndpoint


@admin.register(ApiKey)
class ApiKeyAdmin(OrganizationScopedAdmin[ApiKey]):
    """Keys are created through the API (the plain key is shown once); here: view, revoke."""

    list_display = (
        "name",
        "prefix",
        "organization",
        "scope",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("scope",)
    readonly_fields = (
        "prefix",
        "hashed_key",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    )
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for key in queryset:
            revoke_api_key(key)
        self.message_user(request, f"Revoked {queryset.count()} key(s).", messages.SUCCESS)


class DeliveryInline(ScopedChoices, admin.TabularInline[WebhookDelivery, WebhookEndpoint]):
    model = WebhookDelivery
    extra = 0
    fields = (
        "event",
        "status",
        "attempts",
        "last_status_code",
        "last_error",
        "created_at",
        "delivered_at",
    )
    readonly_fields = fields
    ordering = ("-created_at",)
    max_num = 0
    show_change_link = True


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(OrganizationScopedAdmin[WebhookEndpoint]):
    list_display = ("url", "organization", "active", "created_at")
    list_filter = ("active",)
    readonly_fields = ("secret",)
    inlines = [DeliveryInline]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(OrganizationScopedAdmin[WebhookDelivery]):
    organization_path = "endpoint__organization"
    list_display = (
        "id",
        "event",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "created_at",
    )
    list_filter = ("status", "event")
    readonly_fields = (
        "endpoint", "event", "payload", "status", "attempts", "next_attempt_at", "lease_until",
        "last_status_code", "last_error", "created_at", "delivered_at",
    )  # fmt: skip

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
