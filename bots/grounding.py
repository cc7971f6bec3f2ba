"""Faithful answers: what a reply may state, and the guard every streamed reply passes.

- `figures`: the numbers, amounts and durations a text states, normalised ("fifteen", "15"
  and "15." are one figure). The guard and `bench.answers` both read them.
- `relevant_sentences`: a passage's sentences that answer a question, in the passage's order.
  On small models a grounded reply quotes them (bots.answers): the model is never the only
  carrier of a fact.
- `ReplyGuard`: every engine's stream goes through it. It holds back the last few words, so
  a repeated run, a figure found in neither the sources nor the conversation, or the length
  cap stops the reply before that text is sent; the stored reply ends at a sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from memory.embeddings import embed

NUMBER_WORDS = {
    # "one" is left out: "a new one", "one of our agents" state no figure.
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "fifteen": "15",
    "twenty": "20",
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "hundred": "100",
    "thousand": "1000",
}
# A run of digits with the separators figures carry (1,000  0.5  24/7  1-800-223-2222  10:30),
# not part of a word (a product code such as "A320" is a name, not a figure).
_DIGITS = re.compile(r"(?<!\w)\d(?:[\d,.:/-]*\d)?(?!\w)")
_WORD = re.compile(r"[a-z]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")


def figures(text: str) -> set[str]:
    """The figures stated in `text`: digit runs (thousands separators dropped) and number words."""
    found = {match.group().replace(",", "") for match in _DIGITS.finditer(text)}
    found |= {NUMBER_WORDS[w] for w in _WORD.findall(text.lower()) if w in NUMBER_WORDS}
    return found


def sentences(text: str) -> list[str]:
    """The sentences of a passage, blank lines and Markdown headings left out."""
    out: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = " ".join(paragraph.split())
        if not paragraph or paragraph.startswith("#"):
            continue
        out.extend(s for s in _SENTENCE_END.split(paragraph) if s.strip())
    return out


# Sentences whose cosine to the question reaches this share of the best one's are quoted too,
# within the word budget: a passage's neighbouring facts (the fee next to the limit) come along.
KEEP_SHARE = 0.55


def relevant_sentences(question: np.ndarray, body: str, *, max_words: int) -> list[str]:
    """The sentences of `body` that answer `question` (its vector), in the passage's order.

    All of them when they fit in `max_words`. Otherwise the best-matching sentence, then the
    next best while they match at least KEEP_SHARE as well and the total stays within.
    """
    candidates = sentences(body)
    if sum(len(s.split()) for s in candidates) <= max_words:
        return candidates  # a passage that fits is quoted whole: it is the answer
    if not candidates:
        return []
    scores = embed(candidates) @ question
    order = sorted(range(len(candidates)), key=lambda i: -float(scores[i]))
    best = float(scores[order[0]])
    chosen = {order[0]}
    words = len(candidates[order[0]].split())
    for i in order[1:]:
        size = len(candidates[i].split())
        if float(scores[i]) < KEEP_SHARE * best or words + size > max_words:
            continue
        chosen.add(i)
        words += size
    return [candidates[i] for i in sorted(chosen)]


def _norm(word: str) -> str:
    return re.sub(r"[^\w]", "", word.lower())


@dataclass
class ReplyGuard:
    """Streams a reply's text through the checks; `feed` returns what may be sent now.

    `allowed_figures`: the figures of the sources and the conversation (None: no check, as for
    a bot without knowledge, whose persona may carry its own figures).
    """

    max_words: int
    allowed_figures: set[str] | None = None
    run: int = 6  # a run of this many words seen twice is a loop
    stops: tuple[str, ...] = ()  # text from one of these on is never sent (a stop sequence)
    # Secrets (the system prompt's canary): a reply that reaches one is cut before it.
    canaries: tuple[str, ...] = ()
    stopped: str = ""  # why the stream was cut: "repetition", "figure", "length", "stop", "canary"
    _text: str = ""
    _sent: int = 0  # characters released so far
    _cut: int | None = None  # where the clean reply ends, once stopped
    _runs: set[tuple[str, ...]] = field(default_factory=set)
    _sentences: set[str] = field(default_factory=set)
    _checked: int = 0  # complete words checked so far

    def feed(self, piece: str) -> str:
        if self.stopped or not piece:  # an engine waiting for its batch yields ""
            return ""
        self._text += piece
        leaked = [at for secret in self.canaries if (at := self._text.find(secret)) >= 0]
        if leaked:
            self._text = self._text[: min(leaked)]
            out = self._advance(final=True)
            self.stopped = self.stopped or "canary"
            return out
        found = [at for stop in self.stops if (at := self._text.find(stop)) >= 0]
        if found:
            # Engines that stop after the sequence's last token have streamed it already.
            self._text = self._text[: min(found)]
            out = self._advance(final=True)
            self.stopped = self.stopped or "stop"
            return out
        return self._advance(final=False)

    def close(self) -> str:
        """The rest of the text (the stream ended), checked like the rest."""
        return "" if self.stopped else self._advance(final=True)

    def _advance(self, *, final: bool) -> str:
        words = list(re.finditer(r"\S+", self._text))
        complete = len(words) if final or self._text[-1:].isspace() else len(words) - 1
        for index in range(self._checked, complete):
            if self._check(words, index):
                return self._release(self._cut or 0)
        self._checked = max(self._checked, complete)
        if final:
            self._cut = len(self._text.rstrip())
            return self._release(self._cut)
        # Hold back the word being written, and the shortest-starting tail of complete words
        # that repeats words said before: it may be the start of a loop, which is only seen
        # on its run-th word and must not have left by then. Fresh words go out at once.
        hold = self._repeating_tail(words, complete)
        return self._release(words[hold].start() if hold < len(words) else len(self._text))

    @property
    def text(self) -> str:
        """The reply to store: all of it, or up to the cut, ending at a sentence."""
        end = len(self._text) if self._cut is None else self._cut
        return self._text[:end].strip()

    def _release(self, upto: int) -> str:
        upto = max(upto, self._sent)
        piece = self._text[self._sent : upto]
        self._sent = upto
        return piece

    def _stop(self, reason: str, at: int) -> bool:
        """Cut at the end of the last sentence before `at` (or at `at` if none ends before)."""
        self.stopped = reason
        before = self._text[:at]
        ends = [m.start() for m in _SENTENCE_END.finditer(before)]
        self._cut = ends[-1] if ends else len(before.rstrip())
        return True

    def _check(self, words: list[re.Match[str]], index: int) -> bool:
        word = words[index]
        if self.allowed_figures is not None and (figures(word.group()) - self.allowed_figures):
            return self._stop("figure", word.start())
        if index + 1 >= self.run:
            key = tuple(_norm(w.group()) for w in words[index + 1 - self.run : index + 1])
            start = index + 1 - self.run
            if key in self._runs and any(key):
                return self._stop("repetition", words[start].start())
            self._runs.add(key)
        if re.search(r"[.!?][\"')\]]*$", word.group()):
            sentence_start = self._sentence_start(index, words)
            sentence = " ".join(_norm(w.group()) for w in words[sentence_start : index + 1])
            if len(sentence.split()) >= 2 and sentence in self._sentences:
                return self._stop("repetition", words[sentence_start].start())
            self._sentences.add(sentence)
            if index + 1 >= self.max_words:
                self.stopped = "length"
                self._cut = word.end()
                return True
        elif index + 1 >= self.max_words + 40:  # no sentence end in sight: cut at the last one
            return self._stop("length", word.end())
        return False

    def _repeating_tail(self, words: list[re.Match[str]], complete: int) -> int:
        """The first index of the longest tail (under `run` words) said before, else `complete`."""
        said = [_norm(w.group()) for w in words[:complete]]
        for start in range(max(0, complete - self.run + 1), complete):
            tail = said[start:]
            if any(said[q : q + len(tail)] == tail for q in range(start)):
                return start
        return complete

    @staticmethod
    def _sentence_start(index: int, words: list[re.Match[str]]) -> int:
        start = index
        while start > 0 and not re.search(r"[.!?][\"')\]]*$", words[start - 1].group()):
            start -= 1
        return start
