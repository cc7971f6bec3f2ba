"""Labelling a customer message with its topic, confidence and sentiment (the `embeddings`
worker's work; `tasks.label_message` runs it)."""

from __future__ import annotations

from core.realtime import publish_to_conversation
from memory.conversations.models import Message
from memory.embeddings import embed

from . import classifier, selectors
from .models import Example
from .sentiment import sentiment_of


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
