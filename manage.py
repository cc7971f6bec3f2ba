#!/usr/bin/env python
"""Django's command-line utility; puts platform/ on sys.path first.

An entry point, so it starts the embedded Postgres and Redis where DATABASE_URL / REDIS_URL
are unset (core.embedded); the settings it loads start nothing themselves.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT / "platform"), str(ROOT)]


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "switchboard.settings")
    from django.core.management import execute_from_command_line

    from core import embedded

    embedded.ensure_services()

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
