from django.contrib import admin

from accounts.admin_scope import OrganizationScopedAdmin

from .models import BotIdentity, ConversationSummary, MemoryItem, Preference


@admin.register(BotIdentity)
class BotIdentityAdmin(OrganizationScopedAdmin[BotIdentity]):
    organization_path = "bot__organization"
    """Where an operator reads the secret their server signs user ids with (docs/memory.md)."""

    list_display = ("bot", "created_at")
    readonly_fields = ("user_hash_key", "jwt_key")


@admin.register(MemoryItem)
class MemoryItemAdmin(OrganizationScopedAdmin[MemoryItem]):
    organization_path = "contact__organization"
    list_display = ("contact", "key", "value", "origin", "updated_at")
    list_filter = ("key", "origin")
    exclude = ("embedding",)


@admin.register(Preference)
class PreferenceAdmin(OrganizationScopedAdmin[Preference]):
    organization_path = "contact__organization"
    list_display = ("contact", "name", "value", "origin", "updated_at")
    list_filter = ("name", "origin")


@admin.register(ConversationSummary)
class ConversationSummaryAdmin(OrganizationScopedAdmin[ConversationSummary]):
    organization_path = "contact__organization"
    list_display = ("conversation", "contact", "through_seq", "updated_at")
    exclude = ("embedding",)
