"""Widget-facing HTTP endpoints (memory export, etc.)."""

from django.urls import URLPattern, URLResolver

urlpatterns: list[URLPattern | URLResolver] = []
