"""ASGI entry: HTTP through Django, websockets through Channels."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for entry in (str(ROOT), str(ROOT / "platform")):
    if entry not in sys.path:
        sys.path.insert(0, entry)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "switchboard.settings")

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402

django_app = get_asgi_application()

from core.proxies import TrustedProxySocketMiddleware  # noqa: E402
from frontend.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_app,
        # The widget socket is cross-origin by design: its consumer checks Origin against
        # the widget key's allowed origins itself. The client address is a trusted proxy's
        # X-Forwarded-For, else the socket peer (core.proxies).
        "websocket": TrustedProxySocketMiddleware(URLRouter(websocket_urlpatterns)),
    }
)
