"""Verifying a host site's claim that a visitor is one of its logged-in users.

Two forms: an Intercom-style user hash (hex HMAC-SHA256 of the user id) or a short-lived HS256
JWT carrying `sub` and `exp`. Each form has its own key, derived from the bot's identity secret
under its own label, so a proof of one form is never a proof of the other: a user hash is not a
JWT signature, whatever user id the host was asked to sign. JWTs are checked by PyJWT with the
algorithm pinned. While a host rotates, a bot has two secrets and either one verifies.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable
from dataclasses import dataclass

import jwt

MAX_USER_ID = 200
CLOCK_SKEW_S = 30
JWT_ALGORITHM = "HS256"
USER_HASH_LABEL = b"switchboard-user-hash-v1"
JWT_LABEL = b"switchboard-jwt-v1"


@dataclass(frozen=True)
class IdentityClaim:
    """What the widget's query string claims; unverified until `verified_user_id` says so."""

    user_id: str = ""
    user_hash: str = ""
    token: str = ""


def _derived_key(secret: str, label: bytes) -> str:
    return hmac.new(secret.encode(), label, hashlib.sha256).hexdigest()


def user_hash_key(secret: str) -> str:
    """The key a host's server computes user hashes with (shown in the admin)."""
    return _derived_key(secret, USER_HASH_LABEL)


def jwt_key(secret: str) -> str:
    """The key a host's server signs HS256 JWTs with (shown in the admin)."""
    return _derived_key(secret, JWT_LABEL)


def user_hash(secret: str, user_id: str) -> str:
    """What the host's server computes for its user (and puts in the widget snippet)."""
    return hmac.new(user_hash_key(secret).encode(), user_id.encode(), hashlib.sha256).hexdigest()


def make_token(secret: str, user_id: str, ttl_s: int = 300, now: float | None = None) -> str:
    """An HS256 JWT for `user_id`, valid `ttl_s` seconds (for hosts and tests)."""
    issued = int(now if now is not None else time.time())
    claims = {"sub": user_id, "iat": issued, "exp": issued + ttl_s}
    return jwt.encode(claims, jwt_key(secret), algorithm=JWT_ALGORITHM)


def _jwt_subject(secret: str, token: str, now: float) -> str | None:
    try:
        payload = jwt.decode(
            token,
            jwt_key(secret),
            algorithms=[JWT_ALGORITHM],
            options={"require": ["exp", "sub"], "verify_iat": False},
            leeway=CLOCK_SKEW_S,
        )
    except jwt.PyJWTError:
        return None
    # PyJWT checks `exp`/`nbf` against the wall clock; `now` lets a caller (a test) be stricter.
    if payload["exp"] + CLOCK_SKEW_S < now:
        return None
    sub = payload["sub"]
    if not isinstance(sub, str) or not 0 < len(sub) <= MAX_USER_ID:
        return None
    return sub


def _hash_subject(secret: str, claim: IdentityClaim) -> str | None:
    if not claim.user_id or len(claim.user_id) > MAX_USER_ID or not claim.user_hash:
        return None
    expected = user_hash(secret, claim.user_id)
    given = claim.user_hash.lower().encode("utf-8", "replace")  # bytes: any input compares
    return claim.user_id if hmac.compare_digest(given, expected.encode("ascii")) else None


def verified_user_id(
    secrets: str | Iterable[str], claim: IdentityClaim, now: float | None = None
) -> str | None:
    """The host's user id when the claim is signed with one of `secrets`; None otherwise.

    A token wins over a user hash when both come: the token is what is checked.
    """
    active = [secrets] if isinstance(secrets, str) else list(secrets)
    for secret in filter(None, active):
        if claim.token:
            subject = _jwt_subject(secret, claim.token, now if now is not None else time.time())
        else:
            subject = _hash_subject(secret, claim)
        if subject is not None:
            return subject
    return None
