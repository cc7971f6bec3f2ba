from django.contrib import admin

from accounts.admin_scope import OrganizationScopedAdmin, ScopedChoices

from .models import Bot, WidgetKey


class WidgetKeyInline(ScopedChoices, admin.TabularInline[WidgetKey, Bot]):
    model = WidgetKey
    extra = 0


@admin.register(Bot)
class BotAdmin(OrganizationScopedAdmin[Bot]):
    list_display = ("name", "organization", "engine", "model", "max_tokens")
    list_filter = ("engine", "organization")
    inlines = [WidgetKeyInline]
