"""Bot reads that the interfaces need (the widget socket's key)."""

from __future__ import annotations

from bots.models import WidgetKey


def live_widget_key(key: str, origin: str | None) -> WidgetKey | None:
    """The live key, with its bot, if the page's origin may use it (a read: writes nothing)."""
    widget_key = WidgetKey.objects.select_related("bot").filter(key=key, revoked=False).first()
    if widget_key is None or not widget_key.allows_origin(origin):
        return None
    return widget_key
