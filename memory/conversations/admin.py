from django.contrib import admin

from accounts.admin_scope import OrganizationScopedAdmin, ScopedChoices

from .models import Contact, Conversation, Feedback, Message


@admin.register(Contact)
class ContactAdmin(OrganizationScopedAdmin[Contact]):
    list_display = ("visitor_id", "organization", "created_at", "last_seen_at")


class MessageInline(ScopedChoices, admin.TabularInline[Message, Conversation]):
    model = Message
    extra = 0
    fields = ("seq", "role", "status", "text", "model_name", "ttft_ms", "total_ms")
    readonly_fields = fields


@admin.register(Conversation)
class ConversationAdmin(OrganizationScopedAdmin[Conversation]):
    list_display = ("id", "bot", "contact", "status", "last_seq", "updated_at")
    list_filter = ("status", "bot")
    inlines = [MessageInline]


@admin.register(Feedback)
class FeedbackAdmin(OrganizationScopedAdmin[Feedback]):
    organization_path = "message__conversation__organization"
    list_display = ("message", "contact", "rating", "updated_at")
    list_filter = ("rating",)
