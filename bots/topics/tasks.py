"""Background tasks of the topics app (queue `embeddings`): fetch by id, call the service."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(  # type: ignore[untyped-decorator]
    acks_late=True, soft_time_limit=60, time_limit=90, ignore_result=True
)
def label_message(message_id: int) -> None:
    services.label_message(message_id)


@shared_task(  # type: ignore[untyped-decorator]
    acks_late=True, soft_time_limit=900, time_limit=960, ignore_result=True
)
def train_topic_classifier(bot_id: int) -> None:
    services.train_topic_classifier(bot_id)
