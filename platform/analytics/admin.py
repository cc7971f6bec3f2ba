"""Read-only admin for the rollups and knowledge gaps (derived data: rebuilt, never edited)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from accounts.admin_scope import OrganizationScopedAdmin

from .models import (
    AgentHourlyRollup,
    DailyRollup,
    DirtyHour,
    HourlyRollup,
    KnowledgeGap,
    TopicDailyRollup,
)


class ReadOnlyAdmin(OrganizationScopedAdmin[Any]):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(HourlyRollup)
class HourlyRollupAdmin(ReadOnlyAdmin):
    list_display = ("hour", "bot", "conversations", "user_messages", "bot_messages", "tokens")
    date_hierarchy = "hour"


@admin.register(DailyRollup)
class DailyRollupAdmin(ReadOnlyAdmin):
    list_display = (
        "day",
        "bot",
        "conversations",
        "contained",
        "handoffs",
        "helpful",
        "not_helpful",
    )
    date_hierarchy = "day"


@admin.register(AgentHourlyRollup)
class AgentHourlyRollupAdmin(ReadOnlyAdmin):
    list_display = ("hour", "agent", "messages", "resolved", "csat_count")


@admin.register(TopicDailyRollup)
class TopicDailyRollupAdmin(ReadOnlyAdmin):
    list_display = ("day", "bot", "topic", "questions", "gaps_no_knowledge", "gaps_not_helpful")
    list_filter = ("topic",)


@admin.register(KnowledgeGap)
class KnowledgeGapAdmin(ReadOnlyAdmin):
    list_display = ("asked_at", "bot", "topic", "reason", "text")
    list_filter = ("reason",)


@admin.register(DirtyHour)
class DirtyHourAdmin(ReadOnlyAdmin):
    list_display = ("organization", "hour", "marked_at")
