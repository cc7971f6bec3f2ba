"""Split sections into self-contained chunks that follow headings.

A chunk never spans two sections, is cut at paragraph (then sentence) boundaries, and starts
with its document title and heading path so it reads, embeds and cites on its own.
MAX_WORDS keeps a chunk inside MiniLM's 256-token window (~1.3 tokens per English word).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from memory.knowledge.extract import FaqPair, Section

MAX_WORDS = 160
MIN_WORDS = 40  # a short tail is merged into the previous chunk of the same section
SENTENCE_RE = re.compile(r"(?<=[.!?])\s+")


@dataclass
class ChunkDraft:
    heading: str
    anchor: str
    text: str  # title + heading path + body: what is embedded, searched and quoted
    body: str
    question: str = ""
    answer: str = ""
    embed_text: str = ""  # what is embedded when not `text` (a FAQ's question)


def _words(text: str) -> int:
    return len(text.split())


def _pieces(paragraph: str) -> list[str]:
    """A paragraph, or its sentences (or word runs) when it alone is too long."""
    if _words(paragraph) <= MAX_WORDS:
        return [paragraph]
    pieces: list[str] = []
    for sentence in SENTENCE_RE.split(paragraph):
        words = sentence.split()
        while len(words) > MAX_WORDS:
            pieces.append(" ".join(words[:MAX_WORDS]))
            words = words[MAX_WORDS:]
        if words:
            pieces.append(" ".join(words))
    return pieces


def _pack(pieces: list[str]) -> list[str]:
    bodies: list[list[str]] = []
    count = 0
    for piece in pieces:
        size = _words(piece)
        if bodies and count + size <= MAX_WORDS:
            bodies[-1].append(piece)
            count += size
        else:
            bodies.append([piece])
            count = size
    if len(bodies) > 1 and sum(_words(p) for p in bodies[-1]) < MIN_WORDS:
        tail = bodies.pop()
        bodies[-1].extend(tail)  # slightly over MAX_WORDS beats a context-free scrap
    return ["\n\n".join(body) for body in bodies]


def chunk_sections(title: str, sections: list[Section]) -> list[ChunkDraft]:
    drafts: list[ChunkDraft] = []
    for section in sections:
        pieces = [p for paragraph in section.paragraphs for p in _pieces(paragraph)]
        path = [h for h in section.path if h != title]
        heading = " > ".join(path)
        prefix = " > ".join([title, *path]) if title else heading
        for body in _pack(pieces):
            text = f"{prefix}\n\n{body}" if prefix else body
            drafts.append(ChunkDraft(heading=heading, anchor=section.anchor, text=text, body=body))
    return drafts


def chunk_faq(title: str, pairs: list[FaqPair]) -> list[ChunkDraft]:
    """One chunk per pair; the question alone is embedded, so questions match questions."""
    return [
        ChunkDraft(
            heading=pair.question,
            anchor="",
            text=f"{title}\n\nQ: {pair.question}\nA: {pair.answer}",
            body=pair.answer,
            question=pair.question,
            answer=pair.answer,
            embed_text=pair.question,
        )
        for pair in pairs
    ]
