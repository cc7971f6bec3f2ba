"""The HTTP routes; each surface owns its URLs (websocket routes: frontend/routing.py)."""

from django.contrib import admin
from django.urls import include, path

from core.throttle import limit_login_posts
from frontend import views

urlpatterns = [
    path("", views.demo, name="demo"),
    path("", include("core.urls")),  # /healthz, /readyz
    path("widget/", include("frontend.urls")),
    path("console/", include("desk.urls")),
    path("dashboard/", include("analytics.urls")),
    path("api/", include("api.urls")),
    path("admin/login/", limit_login_posts(admin.site.login)),  # before the admin's own
    path("admin/", admin.site.urls),
]
