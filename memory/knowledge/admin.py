"""Knowledge documents in the admin: status and ingestion progress, re-ingest action."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.admin_scope import OrganizationScopedAdmin, ScopedChoices
from memory.knowledge.models import Chunk, Document, Lookup
from memory.knowledge.services import reingest_document


class ChunkInline(ScopedChoices, admin.TabularInline[Chunk, Document]):
    model = Chunk
    fields = ["ordinal", "heading", "anchor", "text"]
    readonly_fields = ["ordinal", "heading", "anchor", "text"]
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Document | None = None) -> bool:
        return False


@admin.register(Document)
class DocumentAdmin(OrganizationScopedAdmin[Document]):
    list_display = ["title", "bot", "kind", "status", "progress", "ingested_at", "error"]
    list_filter = ["status", "kind", "bot"]
    search_fields = ["title", "key", "source_url"]
    readonly_fields = [
        "status",
        "progress",
        "revision",
        "chunks_total",
        "chunks_done",
        "error",
        "claimed_at",
        "ingested_at",
    ]
    fields = ["bot", "key", "title", "kind", "source_url", "body", *readonly_fields]
    inlines = [ChunkInline]
    actions = ["reingest"]

    @admin.display(description="Progress")
    def progress(self, obj: Document) -> str:
        return obj.progress

    def save_model(self, request: HttpRequest, obj: Document, form: Any, change: bool) -> None:
        obj.organization_id = obj.bot.organization_id  # a document belongs to its bot's org
        super().save_model(request, obj, form, change)
        reingest_document(obj)

    @admin.action(description="Ingest again")
    def reingest(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        for document in queryset:
            reingest_document(document)
        self.message_user(request, f"{queryset.count()} document(s) queued for ingestion.")


@admin.register(Lookup)
class LookupAdmin(OrganizationScopedAdmin[Lookup]):
    organization_path = "bot__organization"
    list_display = ["message", "bot", "outcome", "best_similarity", "created_at"]
    list_filter = ["outcome", "bot"]
    readonly_fields = ["message", "bot", "outcome", "best_similarity", "chunk_ids"]
