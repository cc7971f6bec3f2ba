"""Background tasks of the topics app (queue `embeddings`): fetch by id, run the work.

The work is `labelling.py` and `training.py`; `services.py` queues these tasks.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_ready
from django import db

from core.workers import consumes

from . import labelling, training

log = logging.getLogger(__name__)
EMBEDDINGS_QUEUE = "embeddings"


@shared_task(  # type: ignore[untyped-decorator]
    acks_late=True, soft_time_limit=60, time_limit=90, ignore_result=True
)
def label_message(message_id: int) -> None:
    labelling.label_message(message_id)


# Embeddings are committed in chunks, so a run cut short by the time limit (10k examples on
# busy cores) resumes where it stopped when retried. Both limits stay under the broker's
# one-hour visibility timeout.
@shared_task(  # type: ignore[untyped-decorator]
    acks_late=True,
    soft_time_limit=1500,
    time_limit=1560,
    ignore_result=True,
    autoretry_for=(SoftTimeLimitExceeded,),
    max_retries=3,
    default_retry_delay=5,
)
def train_topic_classifier(bot_id: int) -> None:
    training.train_topic_classifier(bot_id)


def train_untrained_classifiers() -> int:
    """Queue training for every bot with topics and no classifier trained on its examples.

    For a worker that starts: the queued training may have been lost with Redis (`make run`
    stopped during the first start) or killed with its worker. Training is idempotent, and a
    killed run's stored embeddings are kept; returns how many bots were queued.
    """
    bot_ids = training.untrained_bots()
    for bot_id in bot_ids:
        train_topic_classifier.delay(bot_id)
    return len(bot_ids)


@worker_ready.connect  # type: ignore[untyped-decorator]
def train_on_start(sender: Any, **_kwargs: Any) -> None:
    """An embeddings worker that starts trains the classifiers whose training was lost."""
    if not consumes(sender, EMBEDDINGS_QUEUE):
        return
    try:
        queued = train_untrained_classifiers()
    finally:
        # Children forked later (a replaced child) must not inherit this connection.
        db.connections.close_all()
    if queued:
        log.info("queued topic classifier training for %s bots", queued)
