"""Re-enqueue replies whose generation task was lost (Redis restarted, the whole worker died).

Postgres is the log: a stored user message in a bot conversation with no reply, or with a
reply still `streaming` under an expired lease, is an orphan. Re-enqueueing is safe because
`claim_reply` is idempotent; a Redis key per message keeps one re-enqueue per window.
An orphan older than HORIZON is not generated any more: it is answered with the fallback and
the offer of a person, so no customer is left without an answer. A message whose files are
still being read (OCR, a transcript: its reply is chained behind the reading) is no orphan
for READING_GRACE; after that it is answered without what the files say.
The llm worker sweeps at start-up; celery beat runs it every SWITCHBOARD_REPLY_SWEEP_INTERVAL_S.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

import redis
from django.conf import settings
from django.db.models import Exists, OuterRef
from django.utils import timezone

from bots.services import answer_with_fallback
from core.holders import holder_is_dead
from memory.conversations.models import Attachment, Conversation, Message

log = logging.getLogger(__name__)

# Older orphans are left alone: after the broker's visibility timeout kombu restores an
# unacked task itself, and answering a day-old question is worse than not answering it.
HORIZON = timedelta(hours=1)
# Past the horizon an orphan gets the fallback; one seen by no sweep for this long (beat down
# a whole day) is left alone, so each sweep reads a bounded window.
FALLBACK_WINDOW = timedelta(days=1)
# How long a reply may wait behind its files' reading (memory.attachments.tasks): a few
# seconds each on the CPU, more when the background queue is long; the task's own hard time
# limit is 150 s.
READING_GRACE = timedelta(minutes=5)


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)


def orphaned_user_messages(*, stale: bool = False) -> list[int]:
    """Ids of user messages that should have a reply being generated, and do not; with
    `stale`, those past the horizon instead (the ones to answer with the fallback)."""
    now = timezone.now()
    newest, oldest = now - timedelta(seconds=settings.REPLY_SWEEP_AFTER_S), now - HORIZON
    if stale:
        newest, oldest = oldest, oldest - FALLBACK_WINDOW
    done = Message.objects.filter(
        reply_to=OuterRef("pk"), status__in=[Message.Status.FINAL, Message.Status.FAILED]
    )
    being_read = Attachment.objects.filter(
        message=OuterRef("pk"), status__in=[Attachment.Status.PENDING, Attachment.Status.RUNNING]
    )
    after_a_person = Message.objects.filter(
        conversation=OuterRef("conversation"),
        seq__gt=OuterRef("seq"),
        role__in=[Message.Role.AGENT, Message.Role.SYSTEM],
    )
    candidates = (
        Message.objects.filter(
            role=Message.Role.USER,
            conversation__status=Conversation.Status.BOT,
            created_at__lt=newest,
            created_at__gte=oldest,
        )
        .exclude(Exists(done))
        # Its reply waits for its files to be read (chained after them): not lost yet.
        .exclude(Exists(being_read), created_at__gte=now - READING_GRACE)
        # A person answered after it (a handoff, then handed back): no late bot reply.
        .exclude(Exists(after_a_person))
        .order_by("created_at")[:1000]
    )
    # A live lease counts only while its holder lives (a killed worker's lease is void).
    leases = dict(
        Message.objects.filter(
            reply_to__in=[m.pk for m in candidates], lease_until__gt=now
        ).values_list("reply_to_id", "lease_token")
    )
    return [m.pk for m in candidates if m.pk not in leases or holder_is_dead(leases[m.pk])]


def requeue_orphaned_replies(enqueue: Callable[[int], object]) -> list[int]:
    """`enqueue` generation (the reply task's `delay`) for every orphan not already
    re-enqueued in this window."""
    client = _redis()
    window = max(60, settings.REPLY_SWEEP_AFTER_S * 2)
    requeued = []
    for message_id in orphaned_user_messages():
        if client.set(f"sb:sweeper:requeued:{message_id}", 1, nx=True, ex=window):
            enqueue(message_id)
            requeued.append(message_id)
    if requeued:
        log.warning("re-enqueued %d orphaned replies: %s", len(requeued), requeued)
    return requeued


def answer_stale_orphans() -> list[int]:
    """Orphans past the horizon: the fallback and the offer of a person, never silence."""
    answered = [
        message_id
        for message_id in orphaned_user_messages(stale=True)
        if answer_with_fallback(message_id, "lost: not answered within the sweep horizon")
    ]
    if answered:
        log.warning("answered %d stale orphans with the fallback: %s", len(answered), answered)
    return answered
