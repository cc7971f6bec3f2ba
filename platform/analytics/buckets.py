"""Log-scale latency histograms: bucket b holds values in [1.05**b, 1.05**(b+1)) ms.

Percentiles read from them are within 5 % of the exact value, and they add up across hours
and bots, which is what lets a p95 over a year come from a few thousand rollup rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

RATIO = 1.05
LN_RATIO = math.log(RATIO)


def bucket_sql(column: str) -> str:
    """A value's bucket, computed by Postgres (rollups are built in SQL)."""
    return f"GREATEST(0, FLOOR(LN(GREATEST({column}, 1)) / {LN_RATIO!r}))::int"


def merge(histograms: Iterable[Mapping[str, int]]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for histogram in histograms:
        for bucket, count in histogram.items():
            merged[int(bucket)] = merged.get(int(bucket), 0) + int(count)
    return merged


def percentile(histogram: Mapping[int, int], q: float) -> float | None:
    """The q-quantile (nearest rank), reported as the bucket's geometric middle, in ms."""
    total = sum(histogram.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return round(float(RATIO ** (bucket + 0.5)), 1)
    return None  # pragma: no cover - unreachable: seen reaches total
