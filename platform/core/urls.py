"""The probe paths, included by the project's urls (HealthCheckMiddleware answers them first)."""

from django.urls import path

from . import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
]
