"""Test settings: the real settings, with test services kept apart from a running platform.

SWITCHBOARD_TEST_TAG (optional) gives a parallel test run its own Redis and test database.
"""

import os
import secrets
from pathlib import Path

_tag = os.environ.get("SWITCHBOARD_TEST_TAG", "")
_root = Path(__file__).resolve().parents[1]
os.environ.setdefault("SWITCHBOARD_DATA_DIR", str(_root / ".switchboard" / f"test{_tag}"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The suite's own key, shared with the processes it starts (they inherit the environment).
os.environ.setdefault("SWITCHBOARD_SECRET_KEY", secrets.token_urlsafe(50))
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Test-only: the one 127.0.0.1 endpoint the SSRF guard lets through, where the knowledge
# tests serve pages to ingest by URL (workers inherit it through the environment).
os.environ.setdefault("SWITCHBOARD_FETCH_ALLOW_HOSTS", f"127.0.0.1:{_free_port()}")

# Every test client connects from 127.0.0.1, so the per-address flood limits of the widget
# socket would add up across the whole run: lifted here (the live platform inherits them).
# tests/frontend/test_widget_floods.py starts its own web process with small limits.
for _name in (
    "CONNECTS", "CONVERSATIONS", "FRAMES", "MESSAGES", "RESUMES", "TYPING", "FEEDBACK",
    "HANDOFFS", "OFFLINE_MESSAGES", "MEMORY",
):  # fmt: skip
    os.environ.setdefault(f"SWITCHBOARD_RATE_{_name}_PER_IP", "1000000/60")
os.environ.setdefault("SWITCHBOARD_LOGIN_POST_RATE", "100000/m")
os.environ.setdefault("SWITCHBOARD_API_AUTH_FAILURE_RATE", "100000/m")
os.environ.setdefault("SWITCHBOARD_UPLOAD_RATE", "100000/m")
# The operator's model registry for the suite (workers inherit it): the bundled SmolLM2 and
# the same model behind the OpenAI-compatible test server (tests/bots/conftest.py).
os.environ.setdefault(
    "SWITCHBOARD_MODELS",
    '{"smollm2": {"engine": "llamacpp", "model": ""},'
    ' "smollm2-served": {"engine": "openai", "model": "smollm2-served"}}',
)

from switchboard.settings import *  # noqa: E402,F403
from switchboard.settings import DATABASES  # noqa: E402

DATABASES["default"]["TEST"] = {"NAME": f"test_switchboard{_tag}"}
