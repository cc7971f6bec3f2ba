from typing import Any

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse

from accounts.admin_scope import OrganizationScopedAdmin, ScopedChoices

from . import queue_depth
from .models import Bot, WidgetKey


class WidgetKeyInline(ScopedChoices, admin.TabularInline[WidgetKey, Bot]):
    model = WidgetKey
    extra = 0


@admin.register(Bot)
class BotAdmin(OrganizationScopedAdmin[Bot]):
    list_display = ("name", "organization", "engine", "model", "max_tokens")
    list_filter = ("engine", "organization")
    inlines = [WidgetKeyInline]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Superusers see each live llm worker's queue depth above the list (issue #13)."""
        if request.user.is_superuser:
            for line in queue_depth.summary_lines():
                self.message_user(request, line, messages.INFO)
        return super().changelist_view(request, extra_context)
