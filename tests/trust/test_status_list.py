from __future__ import annotations

import base64
import gzip
import json
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector import jws
from connector.canonical import b64url
from connector.errors import ConnectorError
from connector.keys import generate_key
from connector.trust.credentials import StatusEntry
from connector.trust.status_list import (
    MIN_ENTRIES,
    Freshness,
    StatusListCachePolicy,
    allocate_index,
    bit_is_set,
    bitstring_with,
    check_status,
    decode_bitstring,
    encode_bitstring,
    set_indexes,
    verify_status_list,
)


def refused(code: str, fn, *args, **kw) -> ConnectorError:
    with pytest.raises(ConnectorError) as err:
        fn(*args, **kw)
    assert err.value.code == code, f"{err.value.code}: {err.value.reason}"
    return err.value


# --- the bitstring ----------------------------------------------------------------------------------------


def test_index_zero_is_the_most_significant_bit_of_the_first_byte() -> None:
    bits = bitstring_with([0, 9, MIN_ENTRIES - 1])
    assert bits[0] == 0b1000_0000
    assert bits[1] == 0b0100_0000
    assert bits[-1] == 0b0000_0001
    assert len(bits) == MIN_ENTRIES // 8


def test_encoding_is_multibase_base64url_of_gzip() -> None:
    bits = bitstring_with([3])
    encoded = encode_bitstring(bits)
    assert encoded.startswith("u") and "=" not in encoded
    raw = base64.urlsafe_b64decode(encoded[1:] + "=" * (-len(encoded[1:]) % 4))
    assert gzip.decompress(raw) == bits


def test_decodes_the_spec_example_list() -> None:
    # The empty 16 KiB list from the Bitstring Status List v1.0 examples.
    bits = decode_bitstring("uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA")
    assert len(bits) * 8 == MIN_ENTRIES and set_indexes(bits) == frozenset()


@given(st.sets(st.integers(0, MIN_ENTRIES - 1), max_size=200))
@settings(max_examples=60, deadline=None)
def test_encode_decode_round_trip_for_any_revoked_set(revoked: set[int]) -> None:
    bits = decode_bitstring(encode_bitstring(bitstring_with(revoked)))
    assert set_indexes(bits) == revoked
    for index in list(revoked)[:5]:
        assert bit_is_set(bits, index)


@given(st.sets(st.integers(0, 2 * MIN_ENTRIES - 1), max_size=50))
@settings(max_examples=20, deadline=None)
def test_round_trip_for_a_larger_list(revoked: set[int]) -> None:
    bits = bitstring_with(revoked, size=2 * MIN_ENTRIES)
    assert set_indexes(decode_bitstring(encode_bitstring(bits))) == revoked


def test_list_shorter_than_the_minimum_is_refused() -> None:
    short = "u" + b64url(gzip.compress(bytes(1024), mtime=0))
    refused("status.list_too_short", decode_bitstring, short)
    refused("status.invalid", bitstring_with, [], 1024)


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "u",
        "z" + b64url(gzip.compress(bytes(16384))),  # other multibase prefix
        "u" + b64url(gzip.compress(bytes(16384))) + "=",
        "u" + base64.b64encode(gzip.compress(bytes(16384))).decode(),  # standard alphabet
        "u" + b64url(b"not gzip at all"),
        "u" + b64url(gzip.compress(bytes(16384)) + b"trailing"),
        "u" + b64url(gzip.compress(bytes(16384))[:-4]),  # truncated
    ],
)
def test_malformed_encoded_list_is_refused(encoded: str) -> None:
    with pytest.raises(ConnectorError) as err:
        decode_bitstring(encoded)
    assert err.value.code == "status.list_malformed"


def test_decompression_bomb_is_refused() -> None:
    bomb = "u" + b64url(gzip.compress(bytes(4 * 1024 * 1024), mtime=0))
    refused("status.list_malformed", decode_bitstring, bomb, max_bytes=1024 * 1024)


def test_reading_outside_the_list_is_refused() -> None:
    bits = bitstring_with([])
    refused("status.index_out_of_range", bit_is_set, bits, MIN_ENTRIES)
    refused("status.index_out_of_range", bit_is_set, bits, -1)


@given(st.text(max_size=200))
def test_decoder_raises_only_connector_error(text: str) -> None:
    try:
        decode_bitstring(text)
    except ConnectorError:
        pass


def test_allocated_index_is_unused() -> None:
    used = set(range(0, MIN_ENTRIES - 3))
    assert allocate_index(used) in {MIN_ENTRIES - 3, MIN_ENTRIES - 2, MIN_ENTRIES - 1}
    refused("status.list_full", allocate_index, set(range(MIN_ENTRIES)))


# --- the status list credential ---------------------------------------------------------------------------


def test_status_list_credential_round_trip(world, now) -> None:
    token = world.status_list(revoked=(7, 100))
    vc = json.loads(jws.read_payload_unverified(token))
    assert vc["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert vc["id"] == world.status_url
    assert vc["credentialSubject"]["type"] == "BitstringStatusList"
    assert vc["credentialSubject"]["statusPurpose"] == "revocation"
    status_list = verify_status_list(token, world.store, world.authority_did, world.status_url, now)
    assert status_list.is_set(7) and status_list.is_set(100) and not status_list.is_set(8)
    assert status_list.size == MIN_ENTRIES


def test_revocation_builds_on_the_previous_bitstring(world, now) -> None:
    first = verify_status_list(world.status_list(revoked=(1,)), world.store, world.authority_did, world.status_url, now)
    second = world.status_list(revoked=(2,), base=first.bits)
    assert set_indexes(verify_status_list(second, world.store, world.authority_did, world.status_url, now).bits) == {
        1,
        2,
    }


def test_revoked_credential_is_refused(world, now) -> None:
    status_list = verify_status_list(
        world.status_list(revoked=(7,)), world.store, world.authority_did, world.status_url, now
    )
    refused("credential.revoked", check_status, world.status(7), status_list)
    check_status(world.status(8), status_list)


def test_suspended_credential_is_refused(world, now) -> None:
    token = world.status_list(revoked=(7,), purpose="suspension")
    status_list = verify_status_list(token, world.store, world.authority_did, world.status_url, now)
    refused("credential.suspended", check_status, world.status(7, "suspension"), status_list)
    refused("status.purpose_mismatch", check_status, world.status(8, "revocation"), status_list)


def test_status_list_of_another_issuer_is_refused(world, now) -> None:
    refused(
        "status.issuer_mismatch",
        verify_status_list,
        world.status_list(),
        world.store,
        "did:web:localhost%3A8443:other",
        world.status_url,
        now,
    )


def test_status_list_signed_with_an_unlisted_key_is_refused(world, now) -> None:
    token = world.status_list(key=generate_key(), kid=f"{world.authority_did}#vc-9")
    refused("status.kid_unknown", verify_status_list, token, world.store, world.authority_did, world.status_url, now)


def test_forged_status_list_is_refused(world, now) -> None:
    token = world.status_list(key=generate_key())
    refused("status.signature", verify_status_list, token, world.store, world.authority_did, world.status_url, now)


def test_status_list_fetched_from_a_url_outside_the_prefixes_is_refused(world, now) -> None:
    url = "https://localhost:8443/elsewhere/1"
    refused(
        "status.url_not_allowed",
        verify_status_list,
        world.status_list(url=url),
        world.store,
        world.authority_did,
        url,
        now,
    )


def test_status_list_served_at_another_allowed_url_is_refused(world, now) -> None:
    # A genuine list for /status/1 replayed at /status/2 must not be taken for list 2.
    refused(
        "status.url_mismatch",
        verify_status_list,
        world.status_list(),
        world.store,
        world.authority_did,
        "https://localhost:8443/authority/status/2",
        now,
    )


def test_expired_status_list_is_refused(world, now) -> None:
    token = world.status_list(valid_from=now - timedelta(days=2), valid_until=now - timedelta(hours=1))
    refused("status.list_expired", verify_status_list, token, world.store, world.authority_did, world.status_url, now)


def test_status_entry_for_another_list_is_refused(world, now) -> None:
    status_list = verify_status_list(world.status_list(), world.store, world.authority_did, world.status_url, now)
    refused(
        "status.url_mismatch",
        check_status,
        StatusEntry("revocation", 1, "https://localhost:8443/authority/status/2"),
        status_list,
    )


# --- cache policy -----------------------------------------------------------------------------------------


def test_cache_policy_fresh_then_refetch_then_unusable(now) -> None:
    policy = StatusListCachePolicy(max_age=timedelta(minutes=5))
    until = now + timedelta(hours=1)
    assert policy.evaluate(now, until, None, now + timedelta(minutes=4)) is Freshness.FRESH
    assert policy.evaluate(now, until, None, now + timedelta(minutes=6)) is Freshness.MUST_REFETCH
    assert policy.evaluate(now, until, None, now + timedelta(hours=2)) is Freshness.UNUSABLE


def test_ttl_shortens_freshness_but_never_extends_it(now) -> None:
    policy = StatusListCachePolicy(max_age=timedelta(minutes=5))
    until = now + timedelta(hours=1)
    assert policy.evaluate(now, until, timedelta(minutes=1), now + timedelta(minutes=2)) is Freshness.MUST_REFETCH
    assert policy.evaluate(now, until, timedelta(hours=1), now + timedelta(minutes=6)) is Freshness.MUST_REFETCH


def test_fetch_time_in_the_future_is_not_believed(now) -> None:
    policy = StatusListCachePolicy()
    assert policy.evaluate(now + timedelta(hours=1), now + timedelta(days=1), None, now) is Freshness.MUST_REFETCH


def test_list_not_yet_valid_is_unusable(now) -> None:
    policy = StatusListCachePolicy()
    assert (
        policy.evaluate(now, now + timedelta(days=1), None, now, valid_from=now + timedelta(hours=1))
        is Freshness.UNUSABLE
    )


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
_subject = st.dictionaries(st.sampled_from(["id", "type", "statusPurpose", "encodedList", "ttl", "statusSize"]), _json)


@given(subject=_subject, ttl=st.none() | st.integers(-5, 10**13) | st.floats(allow_nan=False))
@settings(max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
def test_status_list_verifier_raises_only_connector_error_on_signed_junk(world, now, subject, ttl) -> None:
    vc = json.loads(jws.read_payload_unverified(world.status_list()))
    vc["credentialSubject"] = {**vc["credentialSubject"], **subject}
    if ttl is not None:
        vc["credentialSubject"]["ttl"] = ttl
    token = jws.sign_compact(world.issuer_key, json.dumps(vc).encode(), {"typ": "vc+jwt", "kid": world.issuer_kid})
    try:
        verify_status_list(token, world.store, world.authority_did, world.status_url, now)
    except ConnectorError:
        pass
