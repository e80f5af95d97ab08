from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector import jws
from connector.canonical import canonical_bytes
from connector.errors import ConnectorError
from connector.keys import cert_der_b64, generate_key
from connector.trust.claims import MEMBERSHIP_CREDENTIAL, ORGANIZATION_CREDENTIAL
from connector.trust.trust_list import (
    TrustStore,
    build_trust_list,
    choose_copy,
    sign_trust_list,
    trusted_issuer,
    verify_self_anchored,
    verify_trust_list,
)


def refused(code: str, fn, *args, **kw) -> ConnectorError:
    with pytest.raises(ConnectorError) as err:
        fn(*args, **kw)
    assert err.value.code == code, f"{err.value.code}: {err.value.reason}"
    return err.value


def test_trust_list_round_trip(world, now) -> None:
    tl = verify_trust_list(world.trust_list_jws, world.root_cert, now)
    assert tl.federation_id == "urn:federation:alpha"
    assert tl.federation_name == "Alpha data space"
    assert tl.sequence == 1
    assert tl.ca_certificates == (world.root_cert,)
    issuer = tl.issuer(world.authority_did)
    assert issuer is not None and issuer.credential_types == {MEMBERSHIP_CREDENTIAL, ORGANIZATION_CREDENTIAL}
    assert issuer.key(world.issuer_kid).public_numbers() == world.issuer_key.public_key().public_numbers()
    assert len(tl.sha256) == 64
    header = jws.read_header(world.trust_list_jws)
    assert header["x5c"] == [cert_der_b64(world.root_cert)]


def test_expired_trust_list_is_refused(world, now) -> None:
    jws_text = world.sign_list(valid_from=now - timedelta(days=10), valid_until=now - timedelta(seconds=1))
    refused("trust_list.expired", verify_trust_list, jws_text, world.root_cert, now)


def test_trust_list_not_yet_valid_is_refused(world, now) -> None:
    jws_text = world.sign_list(valid_from=now + timedelta(hours=1), valid_until=now + timedelta(days=10))
    refused("trust_list.not_yet_valid", verify_trust_list, jws_text, world.root_cert, now)


def test_forged_trust_list_signed_by_another_key_is_refused(world, now) -> None:
    # The header names the real anchor, but the signature is by someone else's key.
    h, p, _ = world.trust_list_jws.split(".")
    forged = jws.sign_compact(
        generate_key(), jws.read_payload_unverified(world.trust_list_jws), jws.read_header(world.trust_list_jws)
    )
    assert forged.split(".")[0] == h and forged.split(".")[1] == p
    refused("trust_list.signature", verify_trust_list, forged, world.root_cert, now)


def test_a_list_carrying_a_certificate_of_no_known_key_algorithm_is_refused(world, now) -> None:
    """Self-anchored (an auditor's or a recognising authority's choice), the list's own certificate is its anchor:
    one whose key names an algorithm no library here knows is refused like any other unusable anchor."""
    der = world.root_cert.public_bytes(serialization.Encoding.DER)
    ec_public_key = bytes.fromhex("06072a8648ce3d0201")  # the OID id-ecPublicKey, as DER
    unknown = der.replace(ec_public_key, ec_public_key[:-1] + b"\x09", 1)  # 1.2.840.10045.2.9: no algorithm
    assert unknown != der
    header = {**jws.read_header(world.trust_list_jws), "x5c": [base64.b64encode(unknown).decode()]}
    carrying = jws.sign_compact(world.root_key, jws.read_payload_unverified(world.trust_list_jws), header)
    error = refused("trust_list.anchor_invalid", verify_self_anchored, carrying, now)
    assert "algorithm" in error.reason


def test_a_list_whose_header_nests_past_reading_is_malformed(world, now) -> None:
    _, payload, signature = world.trust_list_jws.split(".")
    deep = base64.urlsafe_b64encode(b"[" * 100_000).rstrip(b"=").decode()
    for check, args in ((verify_self_anchored, (now,)), (verify_trust_list, (world.root_cert, now))):
        refused("trust_list.malformed", check, f"{deep}.{payload}.{signature}", *args)


def test_forged_trust_list_signed_under_another_anchor_is_refused(world, pki, now) -> None:
    other_key, other_cert = pki.root("Impostor root")
    forged = world.sign_list(root=(other_key, other_cert))
    refused("trust_list.anchor", verify_trust_list, forged, world.root_cert, now)
    assert verify_trust_list(forged, other_cert, now)  # it is a fine list, just not of this anchor


def test_tampered_trust_list_is_refused(world, now) -> None:
    doc = json.loads(jws.read_payload_unverified(world.trust_list_jws))
    doc["issuers"][0]["credentialTypes"].append("AnythingCredential")
    h, _, s = world.trust_list_jws.split(".")
    from connector.canonical import b64url

    refused("trust_list.signature", verify_trust_list, f"{h}.{b64url(canonical_bytes(doc))}.{s}", world.root_cert, now)


def test_non_canonical_payload_is_refused(world, now) -> None:
    doc = json.loads(jws.read_payload_unverified(world.trust_list_jws))
    text = json.dumps(doc, indent=2).encode()
    signed = jws.sign_compact(world.root_key, text, jws.read_header(world.trust_list_jws))
    refused("trust_list.malformed", verify_trust_list, signed, world.root_cert, now)


def test_pinned_anchor_that_expired_is_refused(world, now) -> None:
    refused(
        "trust_list.anchor_invalid",
        verify_trust_list,
        world.trust_list_jws,
        world.root_cert,
        now + timedelta(days=4000),
    )


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d.update(sequence=-1),
        lambda d: d.update(sequence="7"),
        lambda d: d.update(version=2),
        lambda d: d.update(validUntil="tomorrow"),
        lambda d: d["issuers"][0].update(did="not-a-did"),
        lambda d: d["issuers"][0]["keys"][0].update(d="c2VjcmV0"),
        lambda d: d["issuers"][0]["keys"][0].update(kid="did:web:other.example#k"),
        lambda d: d["issuers"][0].update(statusListPrefixes=["http://localhost/status/"]),
        lambda d: d["issuers"][0].update(statusListPrefixes=["https://localhost:8443/authority/status"]),
        lambda d: d["issuers"].append(dict(d["issuers"][0])),
        lambda d: d.update(tlsCaCertificates=["-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]),
    ],
)
def test_malformed_trust_list_is_refused(world, now, mutate) -> None:
    doc = json.loads(jws.read_payload_unverified(world.trust_list_jws))
    mutate(doc)
    signed = jws.sign_compact(world.root_key, canonical_bytes(doc), jws.read_header(world.trust_list_jws))
    refused("trust_list.malformed", verify_trust_list, signed, world.root_cert, now)


def test_signing_refuses_a_root_key_that_does_not_match_the_certificate(world, now) -> None:
    doc = json.loads(jws.read_payload_unverified(world.trust_list_jws))
    refused("trust_list.invalid", sign_trust_list, doc, generate_key(), world.root_cert)


@given(text=st.text(max_size=200))
@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_trust_list_verifier_raises_only_connector_error(world, now, text: str) -> None:
    for candidate in (text, world.trust_list_jws[: len(text)] + text):
        try:
            verify_trust_list(candidate, world.root_cert, now)
        except ConnectorError:
            pass


@given(
    doc=st.dictionaries(
        st.sampled_from(
            [
                "type",
                "version",
                "federation",
                "sequence",
                "issued",
                "validFrom",
                "validUntil",
                "tlsCaCertificates",
                "issuers",
                "timestampAuthorities",
            ]
        ),
        st.none()
        | st.integers(-2, 2)
        | st.text(max_size=4)
        | st.lists(st.text(max_size=3), max_size=2)
        | st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2),
    )
)
@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_trust_list_verifier_raises_only_connector_error_on_signed_junk(world, now, doc) -> None:
    signed = jws.sign_compact(world.root_key, canonical_bytes(doc), jws.read_header(world.trust_list_jws))
    try:
        verify_trust_list(signed, world.root_cert, now)
    except ConnectorError:
        pass


# --- keeping the last valid copy --------------------------------------------------------------------------


def test_first_valid_copy_is_taken(world, now) -> None:
    choice = choose_copy(None, world.trust_list_jws, world.root_cert, now)
    assert choice.replaced and choice.trust_list is not None and choice.problem is None


def test_newer_sequence_replaces_the_kept_copy(world, now) -> None:
    current = world.trust_list
    choice = choose_copy(current, world.sign_list(sequence=2), world.root_cert, now)
    assert choice.replaced and choice.trust_list.sequence == 2


def test_older_sequence_never_replaces_the_kept_copy(world, now) -> None:
    current = verify_trust_list(world.sign_list(sequence=5), world.root_cert, now)
    choice = choose_copy(current, world.sign_list(sequence=4), world.root_cert, now)
    assert not choice.replaced and choice.trust_list is current
    assert choice.problem.code == "trust_list.rollback"


def test_invalid_candidate_never_replaces_the_kept_copy(world, pki, now) -> None:
    current = world.trust_list
    expired = world.sign_list(sequence=9, valid_from=now - timedelta(days=5), valid_until=now - timedelta(days=1))
    choice = choose_copy(current, expired, world.root_cert, now)
    assert choice.trust_list is current and choice.problem.code == "trust_list.expired"
    forged = world.sign_list(sequence=9, root=pki.root("Impostor"))
    choice = choose_copy(current, forged, world.root_cert, now)
    assert choice.trust_list is current and choice.problem.code == "trust_list.anchor"


def test_same_sequence_with_other_content_is_equivocation(world, now) -> None:
    current = world.trust_list
    other = world.sign_list(sequence=1, issuers=[world.alpha_issuer(types=(MEMBERSHIP_CREDENTIAL,))])
    choice = choose_copy(current, other, world.root_cert, now)
    assert choice.trust_list is current and choice.problem.code == "trust_list.equivocation"
    same = choose_copy(current, world.trust_list_jws, world.root_cert, now)
    assert not same.replaced and same.problem is None


def test_list_of_another_federation_does_not_replace_the_kept_copy(world, now) -> None:
    other = world.sign_list(sequence=9, federation_id="urn:federation:other")
    choice = choose_copy(world.trust_list, other, world.root_cert, now)
    assert not choice.replaced and choice.problem.code == "trust_list.federation_mismatch"


# --- several federations ----------------------------------------------------------------------------------


@pytest.fixture
def beta(world, pki, now):
    """A second federation with its own root and issuer."""
    key, cert = pki.root("Beta root CA")
    issuer_key = generate_key()
    issuer = trusted_issuer(
        "did:web:beta.example:authority",
        "Beta authority",
        {"did:web:beta.example:authority#vc": issuer_key},
        [MEMBERSHIP_CREDENTIAL],
        ["https://beta.example/status/"],
    )
    doc = build_trust_list(
        "urn:federation:beta",
        "Beta data space",
        3,
        now,
        now - timedelta(days=1),
        now + timedelta(days=10),
        [cert],
        [issuer],
    )
    return verify_trust_list(sign_trust_list(doc, key, cert), cert, now), cert


def test_lists_of_different_federations_combine(world, beta) -> None:
    beta_list, beta_cert = beta
    store = TrustStore((world.trust_list, beta_list))
    assert set(store.ca_certificates()) == {world.root_cert, beta_cert}
    assert store.may_issue(world.authority_did, MEMBERSHIP_CREDENTIAL) == "Alpha data space"
    assert store.may_issue("did:web:beta.example:authority", MEMBERSHIP_CREDENTIAL) == "Beta data space"
    assert store.may_issue("did:web:beta.example:authority", ORGANIZATION_CREDENTIAL) is None
    assert store.status_list_allowed("did:web:beta.example:authority", "https://beta.example/status/1")
    assert not store.status_list_allowed("did:web:beta.example:authority", world.status_url)


def test_two_copies_of_one_federation_cannot_be_combined(world, now) -> None:
    second = verify_trust_list(world.sign_list(sequence=2), world.root_cert, now)
    refused("trust_store.duplicate_federation", TrustStore, (world.trust_list, second))


def _beta_naming_alpha(world, pki, now, keys, types, prefixes):
    key, cert = pki.root("Beta root CA")
    issuer = trusted_issuer(world.authority_did, "Alpha authority (as beta sees it)", keys, types, prefixes)
    doc = build_trust_list(
        "urn:federation:beta",
        "Beta data space",
        1,
        now,
        now - timedelta(days=1),
        now + timedelta(days=10),
        [cert],
        [issuer],
    )
    return verify_trust_list(sign_trust_list(doc, key, cert), cert, now)


def test_disagreeing_lists_allow_only_types_both_allow(world, pki, now) -> None:
    beta = _beta_naming_alpha(
        world,
        pki,
        now,
        {world.issuer_kid: world.issuer_key},
        [ORGANIZATION_CREDENTIAL],
        ["https://localhost:8443/authority/status/"],
    )
    store = TrustStore((world.trust_list, beta))
    assert store.may_issue(world.authority_did, MEMBERSHIP_CREDENTIAL) is None
    assert store.may_issue(world.authority_did, ORGANIZATION_CREDENTIAL) == "Alpha data space"


def test_disagreeing_lists_refuse_a_key_they_describe_differently(world, pki, now) -> None:
    beta = _beta_naming_alpha(
        world,
        pki,
        now,
        {world.issuer_kid: generate_key()},
        [MEMBERSHIP_CREDENTIAL],
        ["https://localhost:8443/authority/status/"],
    )
    store = TrustStore((world.trust_list, beta))
    refused("trust.issuer_key_conflict", store.issuer_key, world.authority_did, world.issuer_kid)


def test_key_on_only_one_of_two_lists_naming_the_issuer_is_refused(world, pki, now) -> None:
    beta = _beta_naming_alpha(
        world,
        pki,
        now,
        {f"{world.authority_did}#other": generate_key()},
        [MEMBERSHIP_CREDENTIAL],
        ["https://localhost:8443/authority/status/"],
    )
    store = TrustStore((world.trust_list, beta))
    refused("trust.issuer_key_unknown", store.issuer_key, world.authority_did, world.issuer_kid)


def test_disagreeing_lists_allow_only_status_urls_both_allow(world, pki, now) -> None:
    beta = _beta_naming_alpha(
        world,
        pki,
        now,
        {world.issuer_kid: world.issuer_key},
        [MEMBERSHIP_CREDENTIAL],
        ["https://localhost:8443/authority/status/beta/"],
    )
    store = TrustStore((world.trust_list, beta))
    assert not store.status_list_allowed(world.authority_did, world.status_url)
    assert store.status_list_allowed(world.authority_did, "https://localhost:8443/authority/status/beta/1")


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost:8443/authority/status/../../evil/1",
        "https://localhost:8443/authority/status/%2e%2e/evil",
        "https://localhost:8443/authority/status/1?x=y",
        "https://localhost:8443/authority/status/1#frag",
        "http://localhost:8443/authority/status/1",
        "https://localhost:8443/authority/statusevil/1",
    ],
)
def test_status_url_cannot_escape_its_prefix(world, url) -> None:
    assert not world.store.status_list_allowed(world.authority_did, url)


def test_expired_lists_drop_out_of_the_store(world, now) -> None:
    store = world.store
    assert store.valid_at(now).lists
    assert store.valid_at(now + timedelta(days=31)).lists == ()
    assert store.expires_at() == world.trust_list.valid_until
