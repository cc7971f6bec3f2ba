"""Fault-injection engines for reliability tests; only with SWITCHBOARD_FAULT_INJECTION=1.

A bot with engine `fault` and model `crash` kills its worker process at the first token,
`hang` stops sending tokens after a few (until the soft time limit), `slow` streams a fixed
text slowly, `loop` says the same sentence over and over (what a small model does). Never
enabled in production: the registry refuses `fault` without the setting.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

from .base import ChatMessage, Engine, EngineError, Usage

FAULTS = {"crash", "hang", "slow", "loop"}
LOOP_SENTENCE = "Verifying your identity involves taking a photo of your passport. "


class FaultEngine(Engine):
    name = "fault"

    def __init__(self, fault: str) -> None:
        if fault not in FAULTS:
            raise EngineError(f"unknown fault {fault!r}", permanent=True)
        self.fault = fault
        self.model_name = f"fault-{fault}"
        self.context_tokens = 2048

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(
        self, messages: list[ChatMessage], *, max_tokens: int, temperature: float, usage: Usage
    ) -> Iterator[str]:
        usage.prompt_tokens = sum(self.count_tokens(m["content"]) for m in messages)
        usage.ttft_s = 0.0
        words = [f"word{i} " for i in range(max_tokens)]
        if self.fault == "loop":
            words = [f"{w} " for w in LOOP_SENTENCE.split() * max_tokens][:max_tokens]
        for index, word in enumerate(words):
            if self.fault == "crash":
                os.kill(os.getpid(), signal.SIGKILL)  # what a segfault in native code looks like
            if self.fault == "hang" and index == 3:
                while True:  # no more tokens, ever: only the soft time limit ends this
                    time.sleep(0.1)
            usage.completion_tokens += 1
            yield word
            time.sleep(0.05)
