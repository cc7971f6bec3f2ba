"""Brute-force lockout for the console login: 5 failures per username + IP → 15 minutes."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from desk.models import LoginFailure

MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)


def is_locked(username: str, ip: str | None) -> bool:
    since = timezone.now() - WINDOW
    failures = LoginFailure.objects.filter(
        username=username.lower(), ip=ip, created_at__gte=since
    ).count()
    return failures >= MAX_FAILURES


def record_failure(username: str, ip: str | None) -> None:
    LoginFailure.objects.create(username=username.lower()[:150], ip=ip)


def clear_failures(username: str, ip: str | None) -> None:
    LoginFailure.objects.filter(username=username.lower(), ip=ip).delete()
