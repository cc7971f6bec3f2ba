"""Writes: topics and their examples, and queueing the retrain of a bot's classifier.

Every change to a bot's examples goes through here: it marks the bot's classifier stale and
queues a retrain on commit. Until the retrain lands, messages are labelled by their nearest
examples in pgvector alone, so a deleted topic is never handed out by an old model. The
background work itself (training, labelling a message) is `training.py` and `labelling.py`,
which the tasks (`tasks.py`) call.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from bots.models import Bot

from . import classifier
from .models import Example, Topic, TopicClassifier
from .tasks import train_topic_classifier


def _clean(texts: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(t.strip()[:500] for t in texts if t.strip()))


def schedule_training(bot: Bot) -> None:
    """Mark the classifier stale and retrain in the background once this transaction commits."""
    with transaction.atomic():
        stale, _ = TopicClassifier.objects.select_for_update().get_or_create(bot=bot)
        if stale.status != TopicClassifier.Status.PENDING:
            stale.status = TopicClassifier.Status.PENDING
            stale.save(update_fields=["status", "updated_at"])
        train_topic_classifier.delay_on_commit(bot.pk)


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
