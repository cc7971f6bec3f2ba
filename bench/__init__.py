"""Benchmarks: `python -m bench` runs them all; each also runs alone (`python -m bench.<name>`).

Every benchmark starts its own embedded Postgres and Redis under .switchboard/bench, a fresh
`switchboard_bench` database, and its own web and worker processes, then prints a table.
"""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "platform") not in sys.path:
    sys.path[:0] = [str(ROOT / "platform"), str(ROOT)]

# BANKING77 (real customer-support questions with intents): ../shared/data/banking77 beside
# the checkout, or $SWITCHBOARD_BANKING77.
BANKING77 = Path(
    os.environ.get("SWITCHBOARD_BANKING77") or ROOT.parent / "shared" / "data" / "banking77"
)
