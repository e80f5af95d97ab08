"""What the verifier keeps between requests: each kept answer is bounded, ends when its inputs change or its
time is over, and never turns a refusal into an acceptance."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from connector.errors import ConnectorError
from connector.keys import generate_key, key_from_jwk, public_jwk
from connector.trust.compact import parse_jwt, verify_signature
from connector.trust.did import verify_key_certificate
from connector.trust.status_list import MIN_ENTRIES, VerifiedStatusLists
from connector.trust.trust_list import TrustStore


def refused(code: str, fn, *args) -> ConnectorError:
    with pytest.raises(ConnectorError) as err:
        fn(*args)
    assert err.value.code == code, f"{err.value.code}: {err.value.reason}"
    return err.value


# --- verified status lists --------------------------------------------------------------------------------


def test_a_status_list_token_verified_once_is_answered_from_memory_for_the_same_trust_lists(world, now) -> None:
    store, token = world.store, world.status_list(revoked=(7,))
    lists = VerifiedStatusLists()
    first = lists.verify(token, store, world.authority_did, world.status_url, now)
    again = lists.verify(
        token, TrustStore(store.lists), world.authority_did, world.status_url, now + timedelta(hours=1)
    )
    assert again is first and again.is_set(7)
    assert len(lists) == 1


def test_a_remembered_status_list_is_refused_once_its_own_validity_is_over(world, now) -> None:
    store, token = world.store, world.status_list(valid_until=now + timedelta(hours=2))
    lists = VerifiedStatusLists()
    lists.verify(token, store, world.authority_did, world.status_url, now)
    later = now + timedelta(hours=3)
    refused("status.list_expired", lists.verify, token, store, world.authority_did, world.status_url, later)


def test_a_new_token_for_the_same_url_is_verified_in_full(world, now) -> None:
    store = world.store
    lists = VerifiedStatusLists()
    lists.verify(world.status_list(), store, world.authority_did, world.status_url, now)
    revoked = lists.verify(world.status_list(revoked=(7,)), store, world.authority_did, world.status_url, now)
    assert revoked.is_set(7)
    forged = world.status_list(key=generate_key())
    refused("status.signature", lists.verify, forged, store, world.authority_did, world.status_url, now)


def test_a_remembered_status_list_is_verified_again_against_other_trust_lists(world, now) -> None:
    token = world.status_list()
    lists = VerifiedStatusLists()
    lists.verify(token, world.store, world.authority_did, world.status_url, now)
    # The issuer is on no list any more: what was verified against the old lists is not taken for it.
    refused("status.url_not_allowed", lists.verify, token, TrustStore(), world.authority_did, world.status_url, now)


def test_a_status_list_is_remembered_per_issuer(world, now) -> None:
    store, token = world.store, world.status_list()
    lists = VerifiedStatusLists()
    lists.verify(token, store, world.authority_did, world.status_url, now)
    other = "did:web:localhost%3A8443:other"
    refused("status.issuer_mismatch", lists.verify, token, store, other, world.status_url, now)


def test_remembered_status_lists_are_bounded_by_count_and_by_bytes(world, now) -> None:
    store = world.store
    urls = [f"https://localhost:8443/authority/status/{i}" for i in range(3)]
    tokens = [world.status_list(url=url) for url in urls]
    by_count = VerifiedStatusLists(max_entries=2)
    for url, token in zip(urls, tokens):
        by_count.verify(token, store, world.authority_did, url, now)
    assert len(by_count) == 2
    one = len(tokens[0]) + MIN_ENTRIES // 8
    by_bytes = VerifiedStatusLists(max_bytes=2 * one + 10)
    for url, token in zip(urls, tokens):
        by_bytes.verify(token, store, world.authority_did, url, now)
    assert len(by_bytes) == 2 and by_bytes.bytes <= 2 * one + 10
    by_bytes.clear()
    assert len(by_bytes) == 0 and by_bytes.bytes == 0


# --- key certificates of DID documents ---------------------------------------------------------------------


def test_a_key_certificate_that_passed_is_refused_once_it_has_expired(world, now) -> None:
    document, roots = world.a.document, [world.root_cert]
    assert verify_key_certificate(document, world.a.kid, roots, now) == world.a.cert
    after = world.a.cert.not_valid_after_utc + timedelta(seconds=1)
    refused("did.key_certificate", verify_key_certificate, document, world.a.kid, roots, after)


def test_a_key_certificate_that_passed_is_checked_again_against_other_roots(world, now, pki) -> None:
    document = world.a.document
    verify_key_certificate(document, world.a.kid, [world.root_cert], now)
    _, other_root = pki.root("Other root CA")
    refused("did.key_certificate", verify_key_certificate, document, world.a.kid, [other_root], now)


def test_remembered_key_certificates_stay_with_their_document_and_are_bounded(world, now, pki) -> None:
    document = world.a.document
    for i in range(40):
        _, extra = pki.root(f"Extra root {i}")
        verify_key_certificate(document, world.a.kid, [world.root_cert, extra], now)
    assert 0 < len(document._certified) <= 16
    assert dataclasses.replace(document)._certified == {}


# --- key objects and signatures -----------------------------------------------------------------------------


def test_the_same_public_jwk_gives_the_same_key_object_and_a_bad_one_is_refused_every_time() -> None:
    jwk = public_jwk(generate_key())
    assert key_from_jwk(dict(jwk)) is key_from_jwk(dict(jwk))
    off_curve = {**jwk, "y": jwk["x"]}
    for _ in range(2):
        refused("key.jwk_invalid", key_from_jwk, off_curve)


def test_a_parsed_token_whose_signature_was_tampered_with_is_refused(world, now) -> None:
    token = world.status_list()
    head, body, signature = token.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    jwt = parse_jwt(f"{head}.{body}.{flipped}", "status", max_length=len(token) + 1)
    key = world.store.issuer_key(world.authority_did, world.issuer_kid)
    refused("status.signature", verify_signature, jwt, key, "status")
    verify_signature(parse_jwt(token, "status", max_length=len(token) + 1), key, "status")


def test_a_trust_store_with_every_list_valid_is_itself_at_that_moment(world, now) -> None:
    store = world.store
    assert store.valid_at(now) is store
    expired = store.valid_at(store.lists[0].valid_until + timedelta(seconds=1))
    assert expired is not store and expired.lists == () and expired.ca_certificates() == ()
