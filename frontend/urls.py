"""Widget-facing HTTP endpoints: attachment uploads and signed downloads."""

from django.urls import URLPattern, URLResolver, path

from frontend import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("uploads/<str:token>", views.upload_attachment, name="widget-upload"),
    path("attachments/<str:token>", views.serve_attachment, name="widget-attachment"),
]
