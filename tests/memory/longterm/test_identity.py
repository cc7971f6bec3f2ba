"""Signed identity: an Intercom-style user hash or an HS256 JWT, and nothing else, is believed."""

from __future__ import annotations

import base64
import json
import time

from memory.longterm.identity import IdentityClaim, make_token, user_hash, verified_user_id

SECRET = "s3cret-of-the-bot"


def test_a_user_hash_made_with_the_bots_secret_verifies_its_user() -> None:
    claim = IdentityClaim(user_id="cust-42", user_hash=user_hash(SECRET, "cust-42"))
    assert verified_user_id(SECRET, claim) == "cust-42"


def test_a_wrong_missing_or_other_users_hash_verifies_nobody() -> None:
    other_users = user_hash(SECRET, "cust-43")
    assert verified_user_id(SECRET, IdentityClaim("cust-42", other_users)) is None
    assert verified_user_id(SECRET, IdentityClaim("cust-42", "")) is None
    assert verified_user_id(SECRET, IdentityClaim("cust-42", "0" * 64)) is None
    assert verified_user_id(SECRET, IdentityClaim("cust-42", user_hash("other", "cust-42"))) is None
    assert verified_user_id(SECRET, IdentityClaim("cust-42", "ünïcode")) is None
    assert verified_user_id("", IdentityClaim("cust-42", user_hash("", "cust-42"))) is None


def test_a_fresh_jwt_verifies_its_subject() -> None:
    token = make_token(SECRET, "cust-42", ttl_s=300)
    assert verified_user_id(SECRET, IdentityClaim(token=token)) == "cust-42"


def test_an_expired_jwt_or_one_signed_with_another_secret_verifies_nobody() -> None:
    expired = make_token(SECRET, "cust-42", ttl_s=60, now=time.time() - 3600)
    assert verified_user_id(SECRET, IdentityClaim(token=expired)) is None
    foreign = make_token("another-bots-secret", "cust-42")
    assert verified_user_id(SECRET, IdentityClaim(token=foreign)) is None


def test_a_tampered_or_unsigned_jwt_verifies_nobody() -> None:
    header, payload, signature = make_token(SECRET, "cust-42").split(".")

    def b64(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    other_sub = b64({"sub": "cust-1", "exp": int(time.time()) + 300})
    assert (
        verified_user_id(SECRET, IdentityClaim(token=f"{header}.{other_sub}.{signature}")) is None
    )
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{payload}."
    assert verified_user_id(SECRET, IdentityClaim(token=unsigned)) is None
    assert verified_user_id(SECRET, IdentityClaim(token="not-a-jwt")) is None
    assert verified_user_id(SECRET, IdentityClaim(token="a.b.c")) is None


def test_a_token_wins_over_a_user_id_in_the_same_claim() -> None:
    # A valid hash beside a bad token does not sneak through: the token is what is checked.
    claim = IdentityClaim("cust-42", user_hash(SECRET, "cust-42"), token="bad.token.here")
    assert verified_user_id(SECRET, claim) is None
