"""Signed identity: an Intercom-style user hash or an HS256 JWT, and nothing else, is believed."""

from __future__ import annotations

import base64
import json
import time

import jwt

from memory.longterm.identity import (
    IdentityClaim,
    jwt_key,
    make_token,
    user_hash,
    user_hash_key,
    verified_user_id,
)

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


def b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forged_token(secret: str, victim: str) -> str:
    """The attack of issue #11: a host user picks the user id `<header>.<payload>` (payload:
    the victim's `sub`); the host signs it as a user hash; that hash, base64url, is the JWT's
    signature when both proofs share one key."""
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64({'sub': victim, 'exp': 2**31})}"
    digest = bytes.fromhex(user_hash(secret, signing_input))
    signature = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return f"{signing_input}.{signature}"


def test_a_user_hash_can_never_stand_in_for_a_jwt_signature() -> None:
    assert verified_user_id(SECRET, IdentityClaim(token=forged_token(SECRET, "victim"))) is None


def test_a_jwt_signature_can_never_stand_in_for_a_user_hash() -> None:
    header, payload, signature = make_token(SECRET, "cust-42").split(".")
    as_hex = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)).hex()
    claim = IdentityClaim(user_id=f"{header}.{payload}", user_hash=as_hex)
    assert verified_user_id(SECRET, claim) is None


def test_each_format_has_its_own_key_derived_from_the_secret() -> None:
    assert len({SECRET, user_hash_key(SECRET), jwt_key(SECRET)}) == 3
    token = jwt.encode({"sub": "cust-42", "exp": int(time.time()) + 60}, jwt_key(SECRET), "HS256")
    assert verified_user_id(SECRET, IdentityClaim(token=token)) == "cust-42"
    # A host that signs with the raw secret (the old, shared key) is refused.
    raw = jwt.encode({"sub": "cust-42", "exp": int(time.time()) + 60}, SECRET, "HS256")
    assert verified_user_id(SECRET, IdentityClaim(token=raw)) is None


def test_a_jwt_needs_hs256_an_expiry_and_a_subject() -> None:
    key = jwt_key(SECRET)
    later = int(time.time()) + 60
    for claims, algorithm in (
        ({"sub": "cust-42"}, "HS256"),  # no exp
        ({"exp": later}, "HS256"),  # no sub
        ({"sub": "", "exp": later}, "HS256"),
        ({"sub": "cust-42", "exp": later}, "HS512"),
        ({"sub": "cust-42", "exp": later, "nbf": later + 600}, "HS256"),
    ):
        token = jwt.encode(claims, key, algorithm=algorithm)
        assert verified_user_id(SECRET, IdentityClaim(token=token)) is None, claims


def test_a_jwt_just_past_its_expiry_is_accepted_within_the_leeway_only() -> None:
    key = jwt_key(SECRET)
    just = jwt.encode({"sub": "cust-42", "exp": int(time.time()) - 10}, key, "HS256")
    assert verified_user_id(SECRET, IdentityClaim(token=just)) == "cust-42"
    late = jwt.encode({"sub": "cust-42", "exp": int(time.time()) - 120}, key, "HS256")
    assert verified_user_id(SECRET, IdentityClaim(token=late)) is None


def test_two_secrets_verify_while_a_host_rotates() -> None:
    old, new = "the-old-secret", "the-new-secret"
    for secret in (old, new):
        assert verified_user_id([new, old], IdentityClaim(token=make_token(secret, "c"))) == "c"
        claim = IdentityClaim("c", user_hash(secret, "c"))
        assert verified_user_id([new, old], claim) == "c"
    # Rotation done: the old secret's proofs are refused.
    assert verified_user_id([new], IdentityClaim(token=make_token(old, "c"))) is None
    assert verified_user_id([new], IdentityClaim("c", user_hash(old, "c"))) is None
