"""What a reply cites: a passage shown under the answer and placed in the prompt.

Knowledge (memory.knowledge) and long-term memory (memory.longterm) produce them; a reply
stores them (`Message.sources`, as `Source.as_frame()`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Source:
    """One retrieved passage: shown under the answer, placed in the prompt as reference text."""

    kind: str  # "knowledge" | "faq" | "conversation"
    title: str
    snippet: str
    text: str = ""  # what goes into the prompt (the snippet is what the customer sees)
    quote: str = ""  # the passage itself, without its title line: what a quoted answer quotes
    url: str = ""
    score: float = 0.0
    ref: dict[str, Any] = field(default_factory=dict)  # ids: chunk, document, conversation

    def as_frame(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.title,
            "url": self.url,
            "snippet": self.snippet,
            **self.ref,
        }
