"""Admin for topics: editing a topic or its examples queues a retrain of the bot's classifier."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest

from accounts.admin_scope import OrganizationScopedAdmin, ScopedChoices

from .classifier import name_as_example
from .models import Example, Topic, TopicClassifier
from .services import add_examples, schedule_training


class ExampleInline(ScopedChoices, admin.TabularInline[Example, Topic]):
    model = Example
    extra = 3
    fields = ("text",)


@admin.register(Topic)
class TopicAdmin(OrganizationScopedAdmin[Topic]):
    organization_path = "bot__organization"
    list_display = ("name", "bot", "description", "created_at")
    list_filter = ("bot",)
    search_fields = ("name", "examples__text")
    inlines = [ExampleInline]

    def save_formset(
        self,
        request: HttpRequest,
        form: ModelForm[Topic],
        formset: BaseInlineFormSet[Any, Any, Any],
        change: bool,
    ) -> None:
        for example in formset.save(commit=False):
            example.bot_id = form.instance.bot_id
            example.save()
        for removed in formset.deleted_objects:
            removed.delete()

    def save_related(
        self, request: HttpRequest, form: ModelForm[Topic], formsets: Any, change: bool
    ) -> None:
        super().save_related(request, form, formsets, change)
        add_examples(form.instance, [name_as_example(form.instance.name)])
        schedule_training(form.instance.bot)

    def delete_model(self, request: HttpRequest, obj: Topic) -> None:
        bot = obj.bot
        super().delete_model(request, obj)
        schedule_training(bot)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Topic]) -> None:
        bots = {topic.bot for topic in queryset.select_related("bot")}
        super().delete_queryset(request, queryset)
        for bot in bots:
            schedule_training(bot)


@admin.register(TopicClassifier)
class TopicClassifierAdmin(OrganizationScopedAdmin[TopicClassifier]):
    organization_path = "bot__organization"
    list_display = ("bot", "status", "method", "example_count", "train_ms", "trained_at")
    readonly_fields = (
        "bot", "status", "fingerprint", "method", "topic_names", "example_count", "train_ms",
        "error", "trained_at",
    )  # fmt: skip
    exclude = ("weights", "bias")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
