"""Reads: a bot's nearest examples in pgvector, its current classifier, and `wants_human`,
the deterministic "let me talk to a person" detector the handoff rules use."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Count, Q
from pgvector.django import CosineDistance

from bots.models import Bot

from . import classifier
from .models import Example, TopicClassifier

# Who a customer may ask for. "someone" and "a person" count only after a talk-verb, so
# "send money to a person" is not a request for a human.
_HUMAN = (
    r"(?:a |an |the |your |some |to )?"
    r"(?:human(?: being| agent)?s?|real (?:person|people|agent|human)|live (?:person|agent|human)"
    r"|actual (?:person|human)|(?:customer )?(?:service |support )?(?:agent|representative|rep)s?"
    r"|operators?|supervisor|staff(?: member)?|customer (?:service|support|care))"
)
_ANYONE = r"(?:someone|somebody|a person|people|anyone|an employee|your team|a manager)"
_TALK = r"(?:talk|speak|chat|connect me|put me through|transfer me|escalate|get me|reach|call)"
_WANT = r"(?:want|need|like|demand|give me|get me|request|prefer|can i have|may i have)"
_NOT_BOT = (
    r"(?:(?:do not|don'?t|dont) (?:want|like) (?:to )?(?:talk|speak|chat)(?:ing)? (?:to|with) "
    r"(?:a |the |this |you )?|stop (?:the |this )?|enough (?:of )?(?:the |this )?|not (?:a |the )?)"
    r"(?:bot|robot|machine|chat ?bot|automated (?:reply|replies|answers))\b"
)
_NEGATED = r"\b(?:don'?t|dont|do not|no need to|never|not)\b(?:\s+\w+){0,2}\s*$"

_PATTERNS = [
    re.compile(rf"\b{_TALK}\b(?: \w+){{0,3}}? (?:to |with )?{_HUMAN}\b"),
    re.compile(rf"\b(?:talk|speak|chat)\b(?: \w+){{0,2}}? (?:to|with) {_ANYONE}\b"),
    re.compile(rf"\b{_WANT}\b(?: \w+){{0,3}}? {_HUMAN}\b"),
    re.compile(rf"\b{_NOT_BOT}"),
]
# The whole message is just the ask: "human", "agent please!", "a real person now".
_ALONE = re.compile(rf"^(?:(?:i want|give me|get me) )?{_HUMAN}(?: now| please| pls)*$")
_CLAUSES = re.compile(r"[.!?;,\n]+|\bbut\b")


def wants_human(text: str) -> bool:
    """Whether the customer asks for a person (English, rules only: same input, same answer).

    Checked clause by clause, so "I don't need an agent" is no, but "no, not the bot,
    let me speak to an agent" is yes. Questions about the bot ("are you a bot?") are no.
    """
    normalized = re.sub(r"\s+", " ", text.lower().replace("\u2019", "'")).strip()
    for clause in _CLAUSES.split(normalized):
        clause = clause.strip(" -:\"'()")
        if not clause:
            continue
        if _ALONE.match(clause):
            return True
        for pattern in _PATTERNS:
            match = pattern.search(clause)
            if match and not re.search(_NEGATED, clause[: match.start()]):
                return True
    return False


def nearest_examples(
    bot: Bot, vector: Sequence[float], k: int = classifier.NEIGHBOURS
) -> tuple[list[float], list[str]]:
    """Cosine similarities and topic names of the bot's k nearest embedded examples."""
    rows = (
        Example.objects.filter(bot=bot, embedding__isnull=False)
        .annotate(distance=CosineDistance("embedding", list(vector)))
        .order_by("distance", "pk")
        .values_list("distance", "topic__name")[:k]
    )
    similarities, topics = [], []
    for distance, topic in rows:
        similarities.append(1.0 - float(distance))
        topics.append(topic)
    return similarities, topics


_cache: dict[int, tuple[str, classifier.LinearModel]] = {}


def current_classifier(bot: Bot) -> classifier.LinearModel | None:
    """The bot's trained model while it matches its examples; cached per process."""
    row = (
        TopicClassifier.objects.filter(bot=bot, status=TopicClassifier.Status.READY)
        .values("fingerprint", "trained_at")
        .first()
    )
    if row is None:
        return None
    key = f"{row['fingerprint']}@{row['trained_at']}"
    cached = _cache.get(bot.pk)
    if cached is not None and cached[0] == key:
        return cached[1]
    stored = TopicClassifier.objects.filter(bot=bot, status=TopicClassifier.Status.READY).first()
    if stored is None:
        return None
    names = list(stored.topic_names)
    weights = classifier.from_bytes(stored.weights, (len(names), -1))
    bias = classifier.from_bytes(stored.bias, (len(names),))
    model = classifier.LinearModel(names, weights, bias)
    _cache[bot.pk] = (f"{stored.fingerprint}@{stored.trained_at}", model)
    return model


@dataclass(frozen=True)
class Training:
    """How far a bot's classifier is: examples embedded, of all, and trained on them."""

    embedded: int
    examples: int
    trained: bool


def training_progress(bot: Bot) -> Training:
    """A bot without topics has nothing to train: it counts as trained."""
    counts = Example.objects.filter(bot=bot).aggregate(
        examples=Count("pk"), embedded=Count("pk", filter=Q(embedding__isnull=False))
    )
    ready = TopicClassifier.objects.filter(bot=bot, status=TopicClassifier.Status.READY).exists()
    return Training(counts["embedded"], counts["examples"], ready or not counts["examples"])
