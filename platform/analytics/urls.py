"""URLs of the analytics app: the dashboard (mounted at /dashboard/)."""

from django.urls import URLPattern, URLResolver, path

from . import views

app_name = "dashboard"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.overview, name="overview"),
    path("topics/", views.topics, name="topics"),
    path("feedback/", views.feedback, name="feedback"),
    path("gaps/", views.gaps, name="gaps"),
]
