"""Training a bot's topic classifier (the `embeddings` worker's work; `tasks.py` runs it).

Embeds the examples that have no vector yet, fits `classifier.fit` on them, and stores the
model only if the examples did not change meanwhile; `untrained_bots` finds the training a
lost task or a killed worker left undone.
"""

from __future__ import annotations

import hashlib
import logging
import time

import numpy as np
from django.db import transaction
from django.utils import timezone

from bots.models import Bot
from memory.embeddings import embed

from . import classifier
from .models import Example, TopicClassifier

log = logging.getLogger(__name__)

EMBED_CHUNK = 512


def untrained_bots() -> list[int]:
    """The ids of the bots with topics and no classifier trained on their examples."""
    untrained = (
        Bot.objects.filter(topics__isnull=False)
        .exclude(classifier__status=TopicClassifier.Status.READY)
        .distinct()
        .order_by("pk")
    )
    return list(untrained.values_list("pk", flat=True))


def _fingerprint(bot: Bot) -> tuple[str, int]:
    digest = hashlib.sha256()
    count = 0
    for pk, topic in (
        Example.objects.filter(bot=bot).order_by("pk").values_list("pk", "topic__name")
    ):
        digest.update(f"{pk}:{topic}\n".encode())
        count += 1
    return digest.hexdigest(), count


def embed_missing_examples(bot: Bot) -> int:
    """Embed the bot's examples that have no vector yet (idempotent; chunked commits)."""
    done = 0
    while True:
        batch = list(
            Example.objects.filter(bot=bot, embedding__isnull=True)
            .order_by("pk")
            .values_list("pk", "text")[:EMBED_CHUNK]
        )
        if not batch:
            return done
        vectors = embed([text for _, text in batch])
        rows = [
            Example(pk=pk, embedding=vector) for (pk, _), vector in zip(batch, vectors, strict=True)
        ]
        Example.objects.bulk_update(rows, ["embedding"])
        done += len(rows)


def train_topic_classifier(bot_id: int) -> TopicClassifier | None:
    """Embed new examples, fit the classifier, store it if the examples did not move meanwhile.

    Safe to run twice: a classifier already trained on exactly these examples is kept.
    """
    bot = Bot.objects.filter(pk=bot_id).first()
    if bot is None:
        return None
    embed_missing_examples(bot)
    fingerprint, _ = _fingerprint(bot)
    current = TopicClassifier.objects.filter(bot=bot).first()
    if (
        current is not None
        and current.status == TopicClassifier.Status.READY
        and current.fingerprint == fingerprint
    ):
        return current

    started = time.perf_counter()
    rows = list(
        Example.objects.filter(bot=bot, embedding__isnull=False)
        .order_by("pk")
        .values_list("embedding", "topic__name")
    )
    model = None
    if rows:
        embeddings = np.asarray([vector for vector, _ in rows], dtype=np.float32)
        model = classifier.fit(embeddings, [topic for _, topic in rows])
    train_ms = int((time.perf_counter() - started) * 1000)

    with transaction.atomic():
        stored, _ = TopicClassifier.objects.select_for_update().get_or_create(bot=bot)
        # Examples changed while we trained: the retrain queued by that change will win.
        if _fingerprint(bot)[0] != fingerprint:
            log.info("bot %s: examples changed during training, result dropped", bot_id)
            return stored
        stored.fingerprint = fingerprint
        stored.example_count = len(rows)
        stored.train_ms = train_ms
        stored.error = ""
        stored.trained_at = timezone.now()
        if model is None:
            stored.status = TopicClassifier.Status.PENDING
            stored.method, stored.topic_names, stored.weights, stored.bias = "", [], b"", b""
        else:
            stored.status = TopicClassifier.Status.READY
            stored.method = classifier.METHOD
            stored.topic_names = model.topic_names
            stored.weights = classifier.to_bytes(model.weights)
            stored.bias = classifier.to_bytes(model.bias)
        stored.save()
    log.info(
        "bot %s: topic classifier trained on %s examples in %s ms", bot_id, len(rows), train_ms
    )
    return stored
