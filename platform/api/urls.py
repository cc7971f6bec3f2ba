"""URLs of the api app: the REST API (schema at /api/schema, docs at /api/docs)."""

from django.urls import URLPattern, URLResolver, path

from .http import api

urlpatterns: list[URLPattern | URLResolver] = [path("", api.urls)]
