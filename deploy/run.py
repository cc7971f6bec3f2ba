"""Run Switchboard on this machine (embedded Postgres and Redis unless configured otherwise)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "platform"), str(ROOT)]

from switchboard.supervisor import main  # noqa: E402

if __name__ == "__main__":
    main()
