"""Writes: topics and their examples, training a bot's classifier, labelling a message.

Every change to a bot's examples goes through here: it marks the bot's classifier stale and
queues a retrain on commit. Until the retrain lands, messages are labelled by their nearest
examples in pgvector alone, so a deleted topic is never handed out by an old model.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from bots.models import Bot
from core.realtime import publish_to_conversation
from memory.conversations.models import Message
from memory.embeddings import embed

from . import classifier, selectors
from .models import Example, Topic, TopicClassifier
from .sentiment import sentiment_of

log = logging.getLogger(__name__)

EMBED_CHUNK = 512


def _clean(texts: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(t.strip()[:500] for t in texts if t.strip()))


def schedule_training(bot: Bot) -> None:
    """Mark the classifier stale and retrain in the background once this transaction commits."""
    from .tasks import train_topic_classifier

    with transaction.atomic():
        stale, _ = TopicClassifier.objects.select_for_update().get_or_create(bot=bot)
        if stale.status != TopicClassifier.Status.PENDING:
            stale.status = TopicClassifier.Status.PENDING
            stale.save(update_fields=["status", "updated_at"])
        train_topic_classifier.delay_on_commit(bot.pk)


def train_untrained_classifiers() -> int:
    """Queue training for every bot with topics and no classifier trained on its examples.

    For a worker that starts: the queued training may have been lost with Redis (`make run`
    stopped during the first start) or killed with its worker. Training is idempotent, and a
    killed run's stored embeddings are kept; returns how many bots were queued.
    """
    from .tasks import train_topic_classifier

    untrained = (
        Bot.objects.filter(topics__isnull=False)
        .exclude(classifier__status=TopicClassifier.Status.READY)
        .distinct()
        .order_by("pk")
    )
    bot_ids = list(untrained.values_list("pk", flat=True))
    for bot_id in bot_ids:
        train_topic_classifier.delay(bot_id)
    return len(bot_ids)


def add_topic(bot: Bot, name: str, examples: Iterable[str] = (), description: str = "") -> Topic:
    """Create the topic (or find it by name) and add examples; retrains when anything changed."""
    with transaction.atomic():
        topic, created = Topic.objects.get_or_create(
            bot=bot, name=name.strip()[:100], defaults={"description": description[:300]}
        )
        added = _insert_examples(topic, [classifier.name_as_example(topic.name), *examples])
        if created or added:
            schedule_training(bot)
    return topic


def add_topics(bot: Bot, topics: dict[str, list[str]]) -> int:
    """Create topics and examples in bulk (an import, the demo seed); one retrain at most.

    Returns how many examples were new; running it again with the same data changes nothing.
    """
    with transaction.atomic():
        existing = {t.name: t for t in Topic.objects.filter(bot=bot, name__in=list(topics))}
        created = Topic.objects.bulk_create(
            [Topic(bot=bot, name=name) for name in topics if name not in existing]
        )
        by_name = {**existing, **{t.name: t for t in created}}
        before = Example.objects.filter(bot=bot).count()
        rows = [
            Example(topic=by_name[name], bot=bot, text=text)
            for name, texts in topics.items()
            for text in _clean([classifier.name_as_example(name), *texts])
        ]
        Example.objects.bulk_create(rows, ignore_conflicts=True, batch_size=2000)
        added = Example.objects.filter(bot=bot).count() - before
        if created or added:
            schedule_training(bot)
    return added


def add_examples(topic: Topic, texts: Iterable[str]) -> int:
    """Add example utterances (duplicates ignored); returns how many were new."""
    with transaction.atomic():
        added = _insert_examples(topic, texts)
        if added:
            schedule_training(topic.bot)
    return added


def _insert_examples(topic: Topic, texts: Iterable[str]) -> int:
    rows = [Example(topic=topic, bot_id=topic.bot_id, text=text) for text in _clean(texts)]
    before = Example.objects.filter(topic=topic).count()
    Example.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return Example.objects.filter(topic=topic).count() - before


def remove_examples(topic: Topic, texts: Iterable[str]) -> int:
    with transaction.atomic():
        removed, _ = Example.objects.filter(topic=topic, text__in=_clean(texts)).delete()
        if removed:
            schedule_training(topic.bot)
    return removed


def delete_topic(topic: Topic) -> None:
    with transaction.atomic():
        bot = topic.bot
        topic.delete()
        schedule_training(bot)


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
        import numpy as np

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


def label_message(message_id: int) -> Message | None:
    """Store the customer message's topic, confidence and sentiment; tell the conversation."""
    message = (
        Message.objects.select_related("conversation__bot")
        .filter(pk=message_id, role=Message.Role.USER)
        .first()
    )
    if message is None:
        return None
    bot = message.conversation.bot
    topic, confidence = "", None
    if Example.objects.filter(bot=bot, embedding__isnull=False).exists():
        vector = embed([message.text])
        similarities, topics = selectors.nearest_examples(bot, vector[0].tolist())
        label = classifier.classify(
            selectors.current_classifier(bot), vector, [similarities], [topics]
        )[0]
        if label is not None:
            topic, confidence = label.topic, label.confidence
    sentiment = sentiment_of(message.text)
    Message.objects.filter(pk=message.pk).update(
        topic=topic, topic_confidence=confidence, sentiment=sentiment
    )
    message.topic, message.topic_confidence, message.sentiment = topic, confidence, sentiment
    publish_to_conversation(
        message.conversation_id,
        {
            "type": "message.labelled",
            "message_id": message.pk,
            "topic": topic,
            "topic_confidence": confidence,
            "sentiment": sentiment,
        },
    )
    return message
