"""Issuing, checking and revoking API keys. The plain key is shown once, at creation."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.utils import timezone

from .models import ApiKey

KEY_PREFIX = "sb_"
# last_used_at is a hint for admins, not an audit log: write it at most once a minute.
_TOUCH_EVERY = timedelta(minutes=1)


def hash_key(plain: str) -> str:
    # The key carries 190+ bits of randomness, so one SHA-256 is enough (no slow KDF needed).
    return hashlib.sha256(plain.encode()).hexdigest()


def create_api_key(
    organization_id: int, name: str, scope: str, created_by_id: int | None = None
) -> tuple[ApiKey, str]:
    """A new key and its plain text (returned once, never stored)."""
    prefix = secrets.token_hex(4)
    plain = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        organization_id=organization_id,
        name=name,
        prefix=prefix,
        hashed_key=hash_key(plain),
        scope=scope,
        created_by_id=created_by_id,
    )
    return key, plain


def authenticate_key(plain: str) -> ApiKey | None:
    """The live key matching `plain`, or None for unknown and revoked keys alike."""
    if not plain.startswith(KEY_PREFIX):
        return None
    key = ApiKey.objects.filter(hashed_key=hash_key(plain), revoked_at__isnull=True).first()
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > _TOUCH_EVERY:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


def revoke_api_key(key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key
