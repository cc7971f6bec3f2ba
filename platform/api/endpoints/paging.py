"""Limit/offset pagination shared by list endpoints."""

from __future__ import annotations

from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from ninja import Schema
from pydantic import Field

M = TypeVar("M", bound=Model)


class PageParams(Schema):
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=1_000_000)


def page(queryset: QuerySet[M], params: PageParams) -> dict[str, Any]:
    items = list(queryset[params.offset : params.offset + params.limit])
    return {
        "items": items,
        "count": queryset.count(),
        "limit": params.limit,
        "offset": params.offset,
    }
