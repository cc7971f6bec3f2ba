"""Webhook delivery: one signed attempt at a time, and what to try again when.

Delivery is at-least-once: a delivery row is claimed (`pending` → `sending`) before the POST,
so two workers never send it at the same time; a crash after the receiver answered but before
we recorded it sends the same `X-Switchboard-Delivery` id again, which receivers dedupe on.
Target URLs pass the knowledge fetcher's SSRF guard at save time and again at every attempt,
and the connection goes to the very address that was checked.

A receiver is untrusted: one attempt lasts at most WEBHOOK_DEADLINE_S in all, reads at most
WEBHOOK_MAX_RESPONSE_BYTES of the answer as raw bytes (never decompressed), and an endpoint
failing WEBHOOK_BREAKER_FAILURES times in a row has its circuit opened: its deliveries wait
out the cool-down, then a single probe decides whether the rest go.

Nothing here queues a task: `deliver` returns when to try again and `due_deliveries` what is
due, and the tasks (`tasks.py`) queue them; `webhooks.emit` queues the first attempt.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from datetime import datetime, timedelta
from typing import NamedTuple
from urllib.parse import urlsplit

import httpx
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from memory.knowledge.fetch import FetchError, Target, validate_public_url

from .models import WebhookDelivery, WebhookEndpoint

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Switchboard-Signature"
TIMESTAMP_HEADER = "X-Switchboard-Timestamp"
DELIVERY_HEADER = "X-Switchboard-Delivery"
EVENT_HEADER = "X-Switchboard-Event"
TIMEOUT = httpx.Timeout(5.0, connect=5.0)
LEASE = timedelta(seconds=60)


class Attempt(NamedTuple):
    """The delivery's status after an attempt (`skipped` when it was not ours to send, `held`
    while its endpoint's circuit is open), and in how many seconds to try again, if at all."""

    status: str
    retry_in: float | None = None


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """`v1=<hex>`: HMAC-SHA256 over `"<timestamp>." + body` with the endpoint's secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify(
    secret: str, timestamp: str, body: bytes, signature: str, tolerance_s: int = 300
) -> bool:
    """What a receiver does (also used by our tests): check the MAC and the timestamp's age."""
    if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)


def backoff_s(attempts: int) -> float:
    base = float(settings.WEBHOOK_RETRY_BASE_S)
    return float(min(base * 2 ** max(0, attempts - 1), 3600.0))


class DeadlineExceeded(Exception):
    pass


def _post(target: Target, body: bytes, headers: dict[str, str]) -> int:
    """POST and return the status code; the answer is streamed, capped and never decoded."""
    deadline = time.monotonic() + float(settings.WEBHOOK_DEADLINE_S)
    parts = urlsplit(target.url)
    ip_host = f"[{target.address}]" if target.address.version == 6 else str(target.address)
    pinned = parts._replace(netloc=f"{ip_host}:{target.port}").geturl()
    default_port = 443 if target.scheme == "https" else 80
    host_header = target.host + (f":{target.port}" if target.port != default_port else "")
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as client:
        request = client.build_request(
            "POST",
            pinned,
            content=body,
            headers={**headers, "Host": host_header, "Accept-Encoding": "identity"},
            extensions=extensions,
        )
        response = client.send(request, stream=True)
        try:
            # Raw bytes only: a Content-Encoding bomb is never inflated, and a receiver that
            # drips its body forever is cut at the deadline.
            budget = int(settings.WEBHOOK_MAX_RESPONSE_BYTES)
            for chunk in response.iter_raw():
                budget -= len(chunk)
                if budget <= 0:
                    break
                if time.monotonic() > deadline:
                    raise DeadlineExceeded(f"no answer within {settings.WEBHOOK_DEADLINE_S:g} s")
        finally:
            response.close()
        if time.monotonic() > deadline:
            raise DeadlineExceeded(f"no answer within {settings.WEBHOOK_DEADLINE_S:g} s")
        return response.status_code


def _circuit_lets_through(endpoint: WebhookEndpoint) -> datetime | None:
    """None when this attempt may go; else when to try again (the circuit is open).

    After a cool-down one attempt probes: it re-opens the circuit for everyone else until it
    succeeds (conditional UPDATE, so exactly one probe goes).
    """
    if endpoint.consecutive_failures < settings.WEBHOOK_BREAKER_FAILURES:
        return None
    now = timezone.now()
    reopen = now + timedelta(seconds=float(settings.WEBHOOK_BREAKER_COOLDOWN_S))
    probe = (
        WebhookEndpoint.objects.filter(pk=endpoint.pk)
        .filter(Q(circuit_open_until__isnull=True) | Q(circuit_open_until__lte=now))
        .update(circuit_open_until=reopen)
    )
    if probe:
        return None
    held = WebhookEndpoint.objects.filter(pk=endpoint.pk).values_list(
        "circuit_open_until", flat=True
    )
    return held.first() or reopen


def _record_outcome(endpoint: WebhookEndpoint, ok: bool) -> None:
    if ok:
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
            consecutive_failures=0, circuit_open_until=None
        )
        return
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        consecutive_failures=F("consecutive_failures") + 1
    )
    failures = WebhookEndpoint.objects.filter(pk=endpoint.pk).values_list(
        "consecutive_failures", flat=True
    )
    if (failures.first() or 0) >= settings.WEBHOOK_BREAKER_FAILURES:
        reopen = timezone.now() + timedelta(seconds=float(settings.WEBHOOK_BREAKER_COOLDOWN_S))
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(circuit_open_until=reopen)
        log.warning("webhook endpoint %s: circuit open until %s", endpoint.pk, reopen)


def _hold_back(delivery_id: str, until: datetime) -> Attempt:
    """The circuit is open: wait for it without spending an attempt."""
    WebhookDelivery.objects.filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING).update(
        next_attempt_at=until, last_error="circuit open: the endpoint kept failing"
    )
    return Attempt("held", retry_in=max(1.0, (until - timezone.now()).total_seconds()))


def deliver(delivery_id: str) -> Attempt:
    """One attempt: the delivery's status afterwards, and in how many seconds to try again
    (None when there is nothing more to do); the caller (`tasks.deliver_webhook`) queues it."""
    endpoint = WebhookEndpoint.objects.filter(
        deliveries__pk=delivery_id, deliveries__status=WebhookDelivery.Status.PENDING
    ).first()
    if endpoint is None:
        return Attempt("skipped")
    if endpoint.active:
        held_until = _circuit_lets_through(endpoint)
        if held_until is not None:
            return _hold_back(delivery_id, held_until)
    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=WebhookDelivery.Status.PENDING
    ).update(
        status=WebhookDelivery.Status.SENDING,
        attempts=F("attempts") + 1,
        lease_until=now + LEASE,
    )
    if not claimed:
        return Attempt("skipped")
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    if not endpoint.active:
        return _finish(delivery, WebhookDelivery.Status.FAILED, error="endpoint disabled")
    body = json.dumps(delivery.payload, separators=(",", ":")).encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Switchboard-Webhooks/1",
        DELIVERY_HEADER: str(delivery.pk),
        EVENT_HEADER: delivery.event,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(endpoint.secret, timestamp, body),
    }
    try:
        target = validate_public_url(endpoint.url)
    except FetchError as exc:
        if exc.blocked:  # a permanent refusal: retrying cannot help
            return _finish(delivery, WebhookDelivery.Status.FAILED, error=str(exc))
        return _retry_later(delivery, error=str(exc))
    try:
        code = _post(target, body, headers)
    except (httpx.HTTPError, DeadlineExceeded, SoftTimeLimitExceeded) as exc:
        _record_outcome(endpoint, ok=False)
        return _retry_later(delivery, error=f"{type(exc).__name__}: {exc}"[:500])
    if 200 <= code < 300:
        _record_outcome(endpoint, ok=True)
        return _finish(delivery, WebhookDelivery.Status.SUCCEEDED, code=code)
    _record_outcome(endpoint, ok=False)
    return _retry_later(delivery, error=f"HTTP {code}", code=code)


def _finish(
    delivery: WebhookDelivery, status: str, *, error: str = "", code: int | None = None
) -> Attempt:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=status,
        last_error=error[:500],
        last_status_code=code,
        lease_until=None,
        next_attempt_at=None,
        delivered_at=timezone.now() if status == WebhookDelivery.Status.SUCCEEDED else None,
    )
    return Attempt(status)


def _retry_later(delivery: WebhookDelivery, *, error: str, code: int | None = None) -> Attempt:
    if delivery.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        return _finish(delivery, WebhookDelivery.Status.FAILED, error=error, code=code)
    delay = backoff_s(delivery.attempts)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=WebhookDelivery.Status.PENDING,
        last_error=error[:500],
        last_status_code=code,
        lease_until=None,
        next_attempt_at=timezone.now() + timedelta(seconds=delay),
    )
    return Attempt(WebhookDelivery.Status.PENDING, retry_in=delay)


def due_deliveries() -> list[str]:
    """For the beat's safety net: release the leases that expired, and return the ids of the
    retries whose task was lost (at most 500)."""
    now = timezone.now()
    WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.SENDING, lease_until__lt=now
    ).update(status=WebhookDelivery.Status.PENDING, lease_until=None, next_attempt_at=now)
    # A grace period, so the normal countdown task goes first.
    due = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.PENDING, next_attempt_at__lt=now - timedelta(seconds=30)
    ).values_list("pk", flat=True)[:500]
    return [str(pk) for pk in due]
