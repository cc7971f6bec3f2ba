"""Test settings: the real settings, with test services kept apart from a running platform.

SWITCHBOARD_TEST_TAG (optional) gives a parallel test run its own Redis and test database.
"""

import os
from pathlib import Path

_tag = os.environ.get("SWITCHBOARD_TEST_TAG", "")
_root = Path(__file__).resolve().parents[1]
os.environ.setdefault("SWITCHBOARD_DATA_DIR", str(_root / ".switchboard" / f"test{_tag}"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from switchboard.settings import *  # noqa: E402,F403
from switchboard.settings import DATABASES  # noqa: E402

DATABASES["default"]["TEST"] = {"NAME": f"test_switchboard{_tag}"}
