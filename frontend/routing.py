"""Websocket routes."""

from django.urls import path

from .consumers.widget import WidgetConsumer

websocket_urlpatterns = [
    path("ws/widget/", WidgetConsumer.as_asgi()),
]
