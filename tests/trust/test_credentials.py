from __future__ import annotations

import json
from datetime import UTC, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector import jws
from connector.canonical import sha256_hex
from connector.errors import ConnectorError
from connector.keys import generate_key
from connector.trust.claims import MEMBERSHIP_CREDENTIAL, ORGANIZATION_CREDENTIAL
from connector.trust.credentials import (
    ISO_3166_ALPHA2,
    StatusEntry,
    issue_credential,
    issue_organization_credential,
    read_credential_unverified,
    verify_credential,
)
from connector.trust.trust_list import TrustStore, trusted_issuer, verify_trust_list


def payload(token: str) -> dict:
    return json.loads(jws.read_payload_unverified(token))


def refused(code: str, fn, *args, **kw) -> ConnectorError:
    with pytest.raises(ConnectorError) as err:
        fn(*args, **kw)
    assert err.value.code == code, f"{err.value.code}: {err.value.reason}"
    return err.value


def verify(world, now, token: str, **kw):
    args = dict(trust_store=world.store, expected_holder=world.a.did, now=now)
    args.update(kw)
    return verify_credential(token, **args)


# --- issuance ---------------------------------------------------------------------------------------------


def test_membership_credential_has_the_vc_data_model_shape(world) -> None:
    token = world.membership(world.a.did)
    header = jws.read_header(token)
    assert header["typ"] == "vc+jwt" and header["kid"] == world.issuer_kid
    vc = payload(token)
    assert vc["@context"] == ["https://www.w3.org/ns/credentials/v2"]
    assert vc["type"] == ["VerifiableCredential", "MembershipCredential"]
    assert vc["issuer"] == vc["iss"] == world.authority_did
    assert vc["credentialSubject"] == {
        "id": world.a.did,
        "memberOf": "urn:dataspace:alpha",
        "memberSince": "2024-01-15",
    }
    assert vc["credentialStatus"] == {
        "id": f"{world.status_url}#7",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "7",
        "statusListCredential": world.status_url,
    }
    assert vc["validFrom"].endswith("Z") and vc["validUntil"].endswith("Z")
    assert vc["jti"] == vc["id"] and vc["sub"] == world.a.did


def test_organization_credential_requires_an_assigned_country_code(world, now) -> None:
    def issue(country: str) -> str:
        return issue_organization_credential(
            world.issuer_key,
            world.issuer_kid,
            world.authority_did,
            world.a.did,
            "Org A",
            country,
            now,
            now + timedelta(days=1),
        )

    assert payload(issue("FR"))["credentialSubject"]["countryOfEstablishment"] == "FR"
    for bad in ("XX", "de", "DEU", "EU", ""):
        refused("credential.invalid", issue, bad)


def test_country_list_holds_the_249_assigned_codes() -> None:
    assert len(ISO_3166_ALPHA2) == 249
    assert {"DE", "FR", "US", "SS", "CW", "BQ"} <= ISO_3166_ALPHA2
    assert not {"XK", "EU", "UK"} & ISO_3166_ALPHA2


def test_issuer_refuses_a_key_id_of_another_party(world, now) -> None:
    refused(
        "credential.invalid",
        issue_credential,
        world.issuer_key,
        world.a.kid,
        world.authority_did,
        MEMBERSHIP_CREDENTIAL,
        {"id": world.a.did, "memberOf": "x", "memberSince": "2024-01-01"},
        now,
        now + timedelta(days=1),
    )


# --- verification: round trip -----------------------------------------------------------------------------


def test_verified_credential_carries_issuer_federation_subject_and_status(world, now) -> None:
    token = world.membership(world.a.did)
    checked = verify(world, now, token)
    assert checked.issuer == world.authority_did
    assert checked.federation == "Alpha data space"
    assert checked.subject["memberOf"] == "urn:dataspace:alpha"
    assert checked.status == StatusEntry("revocation", 7, world.status_url, f"{world.status_url}#7")
    verified = checked.verified()
    assert verified.has_type(MEMBERSHIP_CREDENTIAL)
    assert verified.sha256 == sha256_hex(token.encode())
    assert verified.valid_until == now + timedelta(days=365)


def test_organization_credential_verifies(world, now) -> None:
    checked = verify(world, now, world.organization(world.a.did))
    assert checked.verified().has_type(ORGANIZATION_CREDENTIAL)
    assert checked.subject["countryOfEstablishment"] == "DE"


# --- the attack list --------------------------------------------------------------------------------------


def test_credential_from_an_issuer_on_no_trust_list_is_refused(world, now) -> None:
    rogue = "did:web:localhost%3A8443:rogue"
    key = generate_key()
    token = world.membership(world.a.did, key=key, kid=f"{rogue}#vc-1", issuer=rogue)
    refused("credential.issuer_untrusted", verify, world, now, token)


def test_credential_of_a_type_its_issuer_may_not_issue_is_refused(world, now) -> None:
    world.trust_list_jws = world.sign_list(issuers=[world.alpha_issuer(types=(ORGANIZATION_CREDENTIAL,))])
    refused("credential.type_not_allowed", verify, world, now, world.membership(world.a.did))
    assert verify(world, now, world.organization(world.a.did))


def test_expired_credential_is_refused(world, now) -> None:
    token = world.membership(world.a.did, valid_from=now - timedelta(days=30), valid_until=now - timedelta(days=1))
    refused("credential.expired", verify, world, now, token)


def test_credential_not_yet_valid_is_refused(world, now) -> None:
    token = world.membership(world.a.did, valid_from=now + timedelta(days=1), valid_until=now + timedelta(days=30))
    refused("credential.not_yet_valid", verify, world, now, token)


def test_credential_whose_subject_is_not_the_holder_is_refused(world, now) -> None:
    refused("credential.subject_mismatch", verify, world, now, world.membership(world.b.did))


def test_credential_signed_with_a_key_not_on_the_trust_list_is_refused(world, now) -> None:
    token = world.membership(world.a.did, key=generate_key(), kid=f"{world.authority_did}#vc-2")
    refused("credential.kid_unknown", verify, world, now, token)


def test_credential_signed_by_another_key_under_the_listed_kid_is_refused(world, now) -> None:
    refused("credential.signature", verify, world, now, world.membership(world.a.did, key=generate_key()))


def test_credential_naming_its_own_key_is_refused(world, now) -> None:
    from connector.keys import public_jwk

    key = generate_key()
    vc = payload(world.membership(world.a.did))
    token = jws.sign_compact(
        key, json.dumps(vc).encode(), {"typ": "vc+jwt", "kid": world.issuer_kid, "jwk": public_jwk(key)}
    )
    refused("credential.embedded_key", verify, world, now, token)


def test_credential_without_vc_jwt_type_header_is_refused(world, now) -> None:
    vc = payload(world.membership(world.a.did))
    token = jws.sign_compact(world.issuer_key, json.dumps(vc).encode(), {"typ": "JWT", "kid": world.issuer_kid})
    refused("credential.media_type", verify, world, now, token)


def test_credential_without_status_is_refused_by_default(world, now) -> None:
    token = world.membership(world.a.did, status=None)
    refused("credential.status_missing", verify, world, now, token)
    assert verify(world, now, token, require_status=False).status is None


def test_credential_pointing_at_a_status_list_elsewhere_is_refused(world, now) -> None:
    status = StatusEntry("revocation", 3, "https://evil.example/status/1")
    refused("credential.status_url_not_allowed", verify, world, now, world.membership(world.a.did, status=status))


@pytest.mark.parametrize("purpose", ["message", "refresh"])
def test_status_purposes_that_cannot_be_evaluated_are_refused(world, now, purpose) -> None:
    status = StatusEntry(purpose, 3, world.status_url)
    refused("credential.status_unsupported", verify, world, now, world.membership(world.a.did, status=status))


def test_mirrored_jwt_claims_must_agree_with_the_credential(world, now) -> None:
    vc = payload(world.membership(world.a.did))
    vc["sub"] = world.b.did
    token = jws.sign_compact(world.issuer_key, json.dumps(vc).encode(), {"typ": "vc+jwt", "kid": world.issuer_kid})
    refused("credential.malformed", verify, world, now, token)


def test_unverified_read_gives_types_for_holder_side_selection(world) -> None:
    assert read_credential_unverified(world.membership(world.a.did)).types == (
        "VerifiableCredential",
        "MembershipCredential",
    )


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


@given(data=st.data())
@settings(max_examples=120, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
def test_tampering_with_any_character_fails(world, now, data) -> None:
    token = world.membership(world.a.did)
    position = data.draw(st.integers(0, len(token) - 1))
    replacement = data.draw(st.sampled_from(_B64 + "."))
    if token[position] == replacement:
        return
    tampered = token[:position] + replacement + token[position + 1 :]
    with pytest.raises(ConnectorError):
        verify(world, now, tampered)


def test_two_trust_lists_disagreeing_on_types_use_the_stricter_reading(world, pki, now) -> None:
    from connector.trust.trust_list import build_trust_list, sign_trust_list

    beta_key, beta_cert = pki.root("Beta root")
    beta_doc = build_trust_list(
        "urn:federation:beta",
        "Beta",
        1,
        now,
        now - timedelta(days=1),
        now + timedelta(days=9),
        [beta_cert],
        [
            trusted_issuer(
                world.authority_did,
                "Alpha authority seen by beta",
                {world.issuer_kid: world.issuer_key},
                [ORGANIZATION_CREDENTIAL],
                ["https://localhost:8443/authority/status/"],
            )
        ],
    )
    beta = verify_trust_list(sign_trust_list(beta_doc, beta_key, beta_cert), beta_cert, now)
    store = TrustStore((world.trust_list, beta))
    refused("credential.type_not_allowed", verify, world, now, world.membership(world.a.did), trust_store=store)
    assert verify(world, now, world.organization(world.a.did), trust_store=store).federation == "Alpha data space"


@given(st.text(max_size=300))
@settings(max_examples=150)
def test_credential_verifier_raises_only_connector_error(text: str) -> None:
    from datetime import datetime

    try:
        verify_credential(text, TrustStore(), "did:web:a.example", datetime(2025, 1, 1, tzinfo=UTC))
    except ConnectorError:
        pass


def test_member_since_must_be_a_date(world, now) -> None:
    refused(
        "credential.invalid",
        issue_credential,
        world.issuer_key,
        world.issuer_kid,
        world.authority_did,
        MEMBERSHIP_CREDENTIAL,
        {"id": world.a.did, "memberOf": "x", "memberSince": "last year"},
        now,
        now + timedelta(days=1),
    )


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
_vc_members = st.dictionaries(
    st.sampled_from(
        [
            "@context",
            "id",
            "type",
            "issuer",
            "validFrom",
            "validUntil",
            "credentialSubject",
            "credentialStatus",
            "iss",
            "sub",
            "jti",
            "iat",
            "exp",
            "nbf",
            "vc",
        ]
    ),
    _json,
    max_size=4,
)


@given(overrides=_vc_members)
@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
def test_credential_verifier_raises_only_connector_error_on_signed_junk(world, now, overrides) -> None:
    vc = {**payload(world.membership(world.a.did)), **overrides}
    token = jws.sign_compact(world.issuer_key, json.dumps(vc).encode(), {"typ": "vc+jwt", "kid": world.issuer_kid})
    try:
        verify(world, now, token)
    except ConnectorError:
        pass
