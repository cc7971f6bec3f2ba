"""Websocket routes."""

from channels.auth import AuthMiddlewareStack
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from .consumers.console import ConsoleConsumer
from .consumers.widget import WidgetConsumer

websocket_urlpatterns = [
    # Cross-origin by design: the consumer checks Origin against the widget key's origins.
    path("ws/widget/", WidgetConsumer.as_asgi()),
    # The agent console: same-origin only (ALLOWED_HOSTS), authenticated by the session.
    path(
        "ws/console/",
        AllowedHostsOriginValidator(AuthMiddlewareStack(ConsoleConsumer.as_asgi())),
    ),
]
