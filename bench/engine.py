"""The bench engine: deterministic and instant, for load where the model is not the point.

Registered only in the bench's own worker processes (`celery -A bench.worker`), never in a
deployed platform. Its model string is "<tokens>x<ms between tokens>", e.g. "32x5".
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from bots.engines import ChatMessage, Engine, Usage


class InstantBenchEngine(Engine):
    name = "bench"

    def __init__(self, model: str = "") -> None:
        tokens, _, gap_ms = (model or "32x5").partition("x")
        self.tokens = int(tokens)
        self.gap_s = int(gap_ms or 0) / 1000
        self.model_name = f"bench-instant-{self.tokens}x{gap_ms or 0}"
        self.context_tokens = 4096

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 1

    def stream(
        self, messages: list[ChatMessage], *, max_tokens: int, temperature: float, usage: Usage
    ) -> Iterator[str]:
        started = time.perf_counter()
        usage.prompt_tokens = sum(self.count_tokens(m["content"]) for m in messages)
        for index in range(min(self.tokens, max_tokens)):
            if index:
                time.sleep(self.gap_s)
            else:
                usage.ttft_s = time.perf_counter() - started
            usage.completion_tokens += 1
            yield f" word{index}"
