from django.contrib import admin

from .models import BotIdentity, ConversationSummary, MemoryItem, Preference


@admin.register(BotIdentity)
class BotIdentityAdmin(admin.ModelAdmin[BotIdentity]):
    """Where an operator reads the secret their server signs user ids with (docs/memory.md)."""

    list_display = ("bot", "created_at")


@admin.register(MemoryItem)
class MemoryItemAdmin(admin.ModelAdmin[MemoryItem]):
    list_display = ("contact", "key", "value", "origin", "updated_at")
    list_filter = ("key", "origin")
    exclude = ("embedding",)


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin[Preference]):
    list_display = ("contact", "name", "value", "origin", "updated_at")
    list_filter = ("name", "origin")


@admin.register(ConversationSummary)
class ConversationSummaryAdmin(admin.ModelAdmin[ConversationSummary]):
    list_display = ("conversation", "contact", "through_seq", "updated_at")
    exclude = ("embedding",)
