"""The outbox's rows (core.outbox): one domain event each, written in its cause's transaction."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q
from django.utils import timezone


class OutboxEvent(models.Model):
    """Plain ids, no foreign keys: core sits below every app whose rows an event names."""

    kind = models.CharField(max_length=64)
    organization_id = models.BigIntegerField()
    conversation_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    data = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    dead_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [
            # The sweep reads only what is still owed, however long the dispatched tail is.
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(dispatched_at__isnull=True, dead_at__isnull=True),
                name="core_outbox_owed",
            ),
            models.Index(
                fields=["dispatched_at"],
                condition=Q(dispatched_at__isnull=False),
                name="core_outbox_dispatched",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"
