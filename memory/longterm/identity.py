"""Verifying a host site's claim that a visitor is one of its logged-in users.

Two forms, both keyed by the bot's identity secret (BotIdentity): an Intercom-style user hash
(hex HMAC-SHA256 of the user id) or a short-lived HS256 JWT carrying `sub` and `exp`. Both are
checked in constant time; anything else (another algorithm, no expiry, a bad signature) fails.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

MAX_USER_ID = 200
CLOCK_SKEW_S = 30


@dataclass(frozen=True)
class IdentityClaim:
    """What the widget's query string claims; unverified until `verified_user_id` says so."""

    user_id: str = ""
    user_hash: str = ""
    token: str = ""


def user_hash(secret: str, user_id: str) -> str:
    """What the host's server computes for its user (and puts in the widget snippet)."""
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_token(secret: str, user_id: str, ttl_s: int = 300, now: float | None = None) -> str:
    """An HS256 JWT for `user_id`, valid `ttl_s` seconds (for hosts and tests)."""
    issued = int(now if now is not None else time.time())
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    payload = _b64(
        json.dumps(
            {"sub": user_id, "iat": issued, "exp": issued + ttl_s}, separators=(",", ":")
        ).encode()
    )
    signing_input = f"{header}.{payload}".encode("ascii")
    signature = hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()
    return f"{header}.{payload}.{_b64(signature)}"


def _jwt_subject(secret: str, token: str, now: float) -> str | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    header_b64, payload_b64, signature_b64 = parts
    try:
        signature = _unb64(signature_b64)
        expected = hmac.new(
            secret.encode(), f"{header_b64}.{payload_b64}".encode("ascii"), hashlib.sha256
        ).digest()
        if not hmac.compare_digest(signature, expected):
            return None
        header = json.loads(_unb64(header_b64))
        payload = json.loads(_unb64(payload_b64))
    except (binascii.Error, ValueError, UnicodeError):
        return None
    # The signature is checked first; the header is still checked so "alg: none" never passes.
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        return None
    if not isinstance(payload, dict):
        return None
    exp, sub = payload.get("exp"), payload.get("sub")
    if isinstance(exp, bool) or not isinstance(exp, int | float) or exp + CLOCK_SKEW_S < now:
        return None
    nbf = payload.get("nbf")
    if isinstance(nbf, int | float) and nbf - CLOCK_SKEW_S > now:
        return None
    if not isinstance(sub, str) or not 0 < len(sub) <= MAX_USER_ID:
        return None
    return sub


def verified_user_id(secret: str, claim: IdentityClaim, now: float | None = None) -> str | None:
    """The host's user id when the claim is signed with `secret`; None for anything else."""
    if not secret:
        return None
    if claim.token:
        return _jwt_subject(secret, claim.token, now if now is not None else time.time())
    if not claim.user_id or len(claim.user_id) > MAX_USER_ID or not claim.user_hash:
        return None
    expected = user_hash(secret, claim.user_id)
    given = claim.user_hash.lower().encode("utf-8", "replace")  # bytes: any input compares
    return claim.user_id if hmac.compare_digest(given, expected.encode("ascii")) else None
