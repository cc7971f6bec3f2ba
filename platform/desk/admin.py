"""Admin for the desk: per-bot handoff policy and business hours, canned replies, CSAT,
offline messages and the audit trail (read-only), scoped to the staff user's organizations."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from accounts.admin_scope import OrganizationScopedAdmin

from .models import AuditEvent, CannedResponse, Csat, HandoffPolicy, OfflineMessage


@admin.register(HandoffPolicy)
class HandoffPolicyAdmin(OrganizationScopedAdmin[HandoffPolicy]):
    organization_path = "bot__organization"
    list_display = (
        "bot",
        "on_request",
        "not_helpful_streak",
        "on_no_knowledge",
        "auto_assign",
        "max_open_per_agent",
        "timezone",
    )


@admin.register(CannedResponse)
class CannedResponseAdmin(OrganizationScopedAdmin[CannedResponse]):
    list_display = ("title", "organization")


@admin.register(Csat)
class CsatAdmin(OrganizationScopedAdmin[Csat]):
    organization_path = "conversation__organization"
    list_display = ("conversation", "score", "agent", "created_at")
    readonly_fields = ("conversation", "score", "comment", "agent")


@admin.register(OfflineMessage)
class OfflineMessageAdmin(OrganizationScopedAdmin[OfflineMessage]):
    organization_path = "conversation__organization"
    list_display = ("email", "conversation", "handled", "created_at")
    readonly_fields = ("conversation", "email", "text")


@admin.register(AuditEvent)
class AuditEventAdmin(OrganizationScopedAdmin[AuditEvent]):
    list_display = ("created_at", "actor", "action", "conversation", "organization")
    list_filter = ("action",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
