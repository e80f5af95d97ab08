from __future__ import annotations

import copy
import hashlib
import hmac
import json
from datetime import UTC, timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import given, settings
from hypothesis import strategies as st

from connector import jws
from connector.canonical import b64url
from connector.errors import ConnectorError
from connector.trust.did import CAPABILITY_INVOCATION, parse_did_document
from connector.trust.scopes import parse_scope, type_scope
from connector.trust.tokens import (
    MemoryReplayCache,
    check_access_token,
    check_id_token,
    issue_access_token,
    issue_id_token,
    read_id_token,
    remember_id_token,
)

MEMBERSHIP_SCOPE = "org.eclipse.dspace.dcp.vc.type:MembershipCredential:read"


def raw_jwt(header: dict, claims: dict, signature: bytes = b"") -> str:
    h = b64url(json.dumps(header).encode())
    p = b64url(json.dumps(claims).encode())
    return f"{h}.{p}.{b64url(signature)}"


def claims_of(token: str) -> dict:
    return json.loads(jws.read_payload_unverified(token))


def header_of(token: str) -> dict:
    return jws.read_header(token)


@pytest.fixture
def token(world, now) -> str:
    return issue_id_token(world.a.key, world.a.kid, world.a.did, world.b.did, "opaque-access", now)


def check(world, now, token: str, **kw):
    args = dict(
        issuer_document=world.a.document,
        expected_audience=world.b.did,
        peer_tls_participant_id=world.a.did,
        now=now,
    )
    args.update(kw)
    return check_id_token(token, **args)


def refused(code: str, fn, *args, **kw) -> ConnectorError:
    with pytest.raises(ConnectorError) as err:
        fn(*args, **kw)
    assert err.value.code == code, f"{err.value.code}: {err.value.reason}"
    return err.value


# --- round trip -------------------------------------------------------------------------------------------


def test_id_token_round_trip_returns_issuer_jti_expiry_and_access_token(world, now, token) -> None:
    facts = check(world, now, token)
    assert facts.issuer == world.a.did
    assert facts.kid == world.a.kid
    assert facts.access_token == "opaque-access"
    assert facts.expires_at == now + timedelta(seconds=300)
    claims = claims_of(token)
    assert claims["iss"] == claims["sub"] == world.a.did
    assert claims["aud"] == world.b.did
    assert claims["jti"] == facts.jti


def test_id_token_accepts_a_document_lookup(world, now, token) -> None:
    seen = []

    def lookup(did: str):
        seen.append(did)
        return world.a.document

    assert check(world, now, token, issuer_document=lookup).issuer == world.a.did
    assert seen == [world.a.did]


def test_each_issued_token_has_a_fresh_jti(world, now) -> None:
    jtis = {
        claims_of(issue_id_token(world.a.key, world.a.kid, world.a.did, world.b.did, None, now))["jti"]
        for _ in range(5)
    }
    assert len(jtis) == 5


def test_id_token_without_access_token_omits_the_token_claim(world, now) -> None:
    t = issue_id_token(world.a.key, world.a.kid, world.a.did, world.b.did, None, now)
    assert "token" not in claims_of(t)
    assert check(world, now, t).access_token is None


# --- the attack list --------------------------------------------------------------------------------------


def test_unsigned_token_is_refused(world, now, token) -> None:
    h, p, _ = token.split(".")
    refused("token.unsigned", check, world, now, f"{h}.{p}.")


def test_wrongly_signed_token_is_refused(world, now, other_key) -> None:
    forged = issue_id_token(other_key, world.a.kid, world.a.did, world.b.did, None, now)
    refused("token.signature", check, world, now, forged)


def test_alg_none_is_refused(world, now, token) -> None:
    forged = raw_jwt({"alg": "none", "kid": world.a.kid}, claims_of(token))
    refused("token.algorithm", check, world, now, forged)


def test_hs256_signed_with_the_public_key_bytes_is_refused(world, now, token) -> None:
    pem = world.a.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": world.a.kid}
    h = b64url(json.dumps(header).encode())
    p = token.split(".")[1]
    mac = hmac.new(pem, f"{h}.{p}".encode(), hashlib.sha256).digest()
    refused("token.algorithm", check, world, now, f"{h}.{p}.{b64url(mac)}")


def test_token_for_another_audience_is_refused(world, now) -> None:
    t = issue_id_token(world.a.key, world.a.kid, world.a.did, "did:web:localhost%3A8443:org-c", None, now)
    refused("token.audience", check, world, now, t)


def test_token_with_several_audiences_is_refused(world, now, token) -> None:
    claims = claims_of(token)
    claims["aud"] = [world.b.did, "did:web:localhost%3A8443:org-c"]
    t = jws.sign_compact(world.a.key, json.dumps(claims).encode(), {"kid": world.a.kid})
    refused("token.audience", check, world, now, t)


def test_expired_token_is_refused(world, now, token) -> None:
    refused("token.expired", check, world, now + timedelta(seconds=300 + 31), token)


def test_expiry_within_leeway_is_accepted(world, now, token) -> None:
    assert check(world, now + timedelta(seconds=300 + 29), token)


def test_token_not_yet_valid_is_refused(world, now) -> None:
    t = issue_id_token(world.a.key, world.a.kid, world.a.did, world.b.did, None, now + timedelta(minutes=2))
    refused("token.not_yet_valid", check, world, now, t)


def test_token_with_too_long_lifetime_is_refused(world, now) -> None:
    t = issue_id_token(world.a.key, world.a.kid, world.a.did, world.b.did, None, now, lifetime=timedelta(hours=1))
    refused("token.lifetime", check, world, now, t)
    assert check(world, now, t, max_lifetime=timedelta(hours=2))


def test_replayed_jti_is_refused(world, now, token) -> None:
    cache = MemoryReplayCache()
    remember_id_token(cache, check(world, now, token), now)
    refused(
        "token.replayed",
        remember_id_token,
        cache,
        check(world, now + timedelta(seconds=5), token),
        now + timedelta(seconds=5),
    )


def test_same_jti_from_another_issuer_is_not_a_replay(world, now) -> None:
    cache = MemoryReplayCache()
    ta = issue_id_token(world.a.key, world.a.kid, world.a.did, world.b.did, None, now, jti="same")
    tb = issue_id_token(world.b.key, world.b.kid, world.b.did, world.a.did, None, now, jti="same")
    remember_id_token(cache, check(world, now, ta), now)
    remember_id_token(cache, check_id_token(tb, world.b.document, world.a.did, world.b.did, now), now)


def test_token_whose_did_differs_from_the_tls_participant_is_refused(world, now) -> None:
    # org-b signs a perfectly valid token for itself but arrives on org-a's TLS connection.
    t = issue_id_token(world.b.key, world.b.kid, world.b.did, world.b.did, None, now)
    refused(
        "token.channel_binding", check, world, now, t, expected_audience=world.b.did, issuer_document=world.b.document
    )


def test_token_with_iss_different_from_sub_is_refused(world, now, token) -> None:
    claims = claims_of(token)
    claims["sub"] = world.b.did
    t = jws.sign_compact(world.a.key, json.dumps(claims).encode(), {"kid": world.a.kid})
    refused("token.subject_mismatch", check, world, now, t)


def test_kid_not_in_the_issuers_document_is_refused(world, now) -> None:
    t = issue_id_token(world.a.key, f"{world.a.did}#key-2", world.a.did, world.b.did, None, now)
    refused("token.kid_unknown", check, world, now, t)


def test_kid_of_another_did_is_refused(world, now, token) -> None:
    t = jws.sign_compact(world.b.key, json.dumps(claims_of(token)).encode(), {"kid": world.b.kid})
    refused("token.kid_unknown", check, world, now, t)


def test_missing_kid_is_refused(world, now, token) -> None:
    # DCP base protocol, validation step 3: without a kid, a document with more than one usable key refuses the
    # token (with exactly one, the token is accepted: see tests/trust/test_dcp_keys.py).
    from connector.keys import generate_key
    from connector.trust.did import DidKey, build_did_document

    two_keys = build_did_document(
        world.a.did,
        [DidKey("key-1", world.a.key.public_key()), DidKey("key-2", generate_key().public_key())],
        "https://localhost:8443/org-a/cs",
        "https://localhost:8443/org-a/dsp",
    )
    t = jws.sign_compact(world.a.key, json.dumps(claims_of(token)).encode(), {})
    refused("token.kid_unknown", check, world, now, t, issuer_document=parse_did_document(two_keys, world.a.did))


def test_key_without_capability_invocation_is_refused(world, now, token) -> None:
    doc = copy.deepcopy(world.a.document_json)
    del doc[CAPABILITY_INVOCATION]
    refused("token.kid_relationship", check, world, now, token, issuer_document=parse_did_document(doc, world.a.did))


def test_document_of_another_party_is_refused(world, now, token) -> None:
    refused("token.document_mismatch", check, world, now, token, issuer_document=world.b.document)


def test_credential_typed_jwt_is_not_an_id_token(world, now, token) -> None:
    t = jws.sign_compact(world.a.key, json.dumps(claims_of(token)).encode(), {"kid": world.a.kid, "typ": "vc+jwt"})
    refused("token.type", check, world, now, t)


def test_embedded_jwk_header_is_refused(world, now, token, other_key) -> None:
    from connector.keys import public_jwk

    t = jws.sign_compact(
        other_key, json.dumps(claims_of(token)).encode(), {"kid": world.a.kid, "jwk": public_jwk(other_key)}
    )
    refused("token.embedded_key", check, world, now, t)


@pytest.mark.parametrize("index", [0, 1, 2])
def test_non_canonical_base64_part_is_refused(world, now, token, index) -> None:
    parts = token.split(".")
    parts[index] = parts[index] + "="
    refused("token.malformed", check, world, now, ".".join(parts))


def test_duplicate_claim_names_are_refused(world, now, token) -> None:
    h, p, _ = token.split(".")
    body = jws.read_payload_unverified(token).decode()
    doubled = body[:-1] + ',"aud":"' + world.b.did + '"}'
    t = jws.sign_compact(world.a.key, doubled.encode(), {"kid": world.a.kid})
    refused("token.malformed", check, world, now, t)


@given(st.text(max_size=200))
@settings(max_examples=200)
def test_id_token_reader_raises_only_connector_error(text: str) -> None:
    from datetime import datetime

    try:
        read_id_token(text, "did:web:b.example", "did:web:a.example", datetime(2025, 1, 1, tzinfo=UTC))
    except ConnectorError:
        pass


@given(
    st.dictionaries(
        st.sampled_from(["iss", "sub", "aud", "jti", "iat", "nbf", "exp", "token"]),
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats()
        | st.text(max_size=5)
        | st.lists(st.text(max_size=3), max_size=2),
    )
)
@settings(max_examples=200)
def test_id_token_reader_raises_only_connector_error_on_odd_claims(claims: dict) -> None:
    from datetime import datetime

    token = raw_jwt({"alg": "ES256", "kid": "did:web:a.example#k"}, claims, b"\x00" * 64)
    try:
        read_id_token(token, "did:web:b.example", "did:web:a.example", datetime(2025, 1, 1, tzinfo=UTC))
    except ConnectorError:
        pass


# --- replay cache -----------------------------------------------------------------------------------------


def test_replay_cache_forgets_after_expiry(now) -> None:
    cache = MemoryReplayCache()
    assert cache.remember("iss", "j", now + timedelta(seconds=10), now)
    assert not cache.remember("iss", "j", now + timedelta(seconds=10), now + timedelta(seconds=5))
    assert cache.remember("iss", "j", now + timedelta(seconds=30), now + timedelta(seconds=11))


def test_full_replay_cache_refuses_rather_than_forgets(now) -> None:
    cache = MemoryReplayCache(max_entries=2)
    assert cache.remember("i", "1", now + timedelta(minutes=5), now)
    assert cache.remember("i", "2", now + timedelta(minutes=5), now)
    refused("token.replay_cache_full", cache.remember, "i", "3", now + timedelta(minutes=5), now)
    # Once the old entries expired there is room again.
    assert cache.remember("i", "3", now + timedelta(minutes=15), now + timedelta(minutes=6))
    assert len(cache) == 1


def test_the_replay_cache_holds_as_much_for_a_long_jti_as_for_a_short_one(now) -> None:
    import gc
    import tracemalloc

    cache = MemoryReplayCache()
    until = now + timedelta(minutes=5)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(1000):  # a member's tokens with a jti of 20,000 characters each: 20 MB of jti
            assert cache.remember(f"did:web:example.com:peer-{n % 10}", f"{n}-" + "j" * 20_000, until, now)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 512 * 1024, held
    assert not cache.remember("did:web:example.com:peer-9", "999-" + "j" * 20_000, until, now)  # still a replay
    # Pairs whose texts run together alike are still told apart.
    assert cache.remember("did:web:a.example", "x", until, now)
    assert cache.remember("did:web:a.exampl", "ex", until, now)


# --- access tokens ----------------------------------------------------------------------------------------


@pytest.fixture
def access(world, now) -> str:
    """org-a's access token for its own credential service, granting org-b read of memberships."""
    return issue_access_token(world.a.key, world.a.kid, world.a.did, world.b.did, [MEMBERSHIP_SCOPE], now)


def verifier_token(world, now, access_token: str, **kw) -> str:
    return issue_id_token(world.b.key, world.b.kid, world.b.did, kw.get("aud", world.a.did), access_token, now)


def grant(world, now, id_token: str, **kw):
    args = dict(
        verifier_document=world.b.document,
        owner_document=world.a.document,
        peer_tls_participant_id=world.b.did,
        now=now,
    )
    args.update(kw)
    return check_access_token(id_token, **args)


def test_access_token_round_trip_grants_its_scopes_to_its_verifier(world, now, access) -> None:
    g = grant(world, now, verifier_token(world, now, access))
    assert g.verifier == world.b.did
    assert g.permits(MEMBERSHIP_SCOPE)
    assert not g.permits(type_scope("OrganizationCredential"))
    assert g.allowed([MEMBERSHIP_SCOPE, type_scope("OrganizationCredential")]) == (parse_scope(MEMBERSHIP_SCOPE),)
    assert header_of(access)["typ"] == "at+jwt"


def test_access_token_presented_by_another_verifier_is_refused(world, now) -> None:
    c = world.participant("org-c")
    stolen = issue_access_token(world.a.key, world.a.kid, world.a.did, world.b.did, [MEMBERSHIP_SCOPE], now)
    t = issue_id_token(c.key, c.kid, c.did, world.a.did, stolen, now)
    refused("access_token.subject", grant, world, now, t, verifier_document=c.document, peer_tls_participant_id=c.did)


def test_access_token_not_signed_by_the_owner_is_refused(world, now) -> None:
    forged = issue_access_token(world.b.key, world.a.kid, world.a.did, world.b.did, [MEMBERSHIP_SCOPE], now)
    refused("access_token.signature", grant, world, now, verifier_token(world, now, forged))


def test_verifier_id_token_for_another_owner_is_refused(world, now, access) -> None:
    t = issue_id_token(world.b.key, world.b.kid, world.b.did, "did:web:localhost%3A8443:org-c", access, now)
    refused("token.audience", grant, world, now, t)


def test_verifier_id_token_over_another_tls_identity_is_refused(world, now, access) -> None:
    refused(
        "token.channel_binding",
        grant,
        world,
        now,
        verifier_token(world, now, access),
        peer_tls_participant_id="did:web:localhost%3A8443:org-c",
    )


def test_missing_access_token_is_refused(world, now) -> None:
    t = issue_id_token(world.b.key, world.b.kid, world.b.did, world.a.did, None, now)
    refused("access_token.missing", grant, world, now, t)


def test_expired_access_token_is_refused(world, now) -> None:
    old = issue_access_token(
        world.a.key, world.a.kid, world.a.did, world.b.did, [MEMBERSHIP_SCOPE], now - timedelta(minutes=10)
    )
    refused("access_token.expired", grant, world, now, verifier_token(world, now, old))


def test_id_token_passed_off_as_access_token_is_refused(world, now) -> None:
    # org-a's own ID token (same signing key) must never work as an access token.
    own = issue_id_token(world.a.key, world.a.kid, world.a.did, world.a.did, None, now)
    refused("access_token.type", grant, world, now, verifier_token(world, now, own))


def test_access_token_needs_a_scope(world, now) -> None:
    refused("access_token.scope", issue_access_token, world.a.key, world.a.kid, world.a.did, world.b.did, [], now)
