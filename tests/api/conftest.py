"""API test setup: fast webhook retries in the live platform's workers (read at their start)."""

import os

os.environ.setdefault("SWITCHBOARD_WEBHOOK_RETRY_BASE_S", "1")
