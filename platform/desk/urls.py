"""The agent console (mounted at /console/)."""

from django.urls import URLPattern, URLResolver, path

from . import views

app_name = "desk"
urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.queue, name="queue"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("c/<int:conversation_id>/", views.conversation, name="conversation"),
    path("c/<int:conversation_id>/uploads", views.upload, name="upload"),
    path("audit/", views.audit, name="audit"),
    path("attachments/<int:attachment_id>", views.attachment, name="attachment"),
]
