"""Both DCP credential profiles (dcp.profiles.md), as holder and as verifier: ``vc11-sl2021/jwt`` (VC Data Model 1.1
as JWT with the vc / vp claims, Status List 2021) and ``vc20-bssl/jwt`` (VC Data Model 2.0 with JOSE, Bitstring
Status List), including the shapes EDC IdentityHub, EDC IssuerService and the DCP TCK write, and the shape of
what this node presents as EDC's verifier reads it.

Foreign artefacts are written here by hand from the specifications and signed with PyJWT."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import date, timedelta
from typing import Any

import jwt as pyjwt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector import jws
from connector.errors import ConnectorError
from connector.trust import vocab
from connector.trust.claims import MEMBERSHIP_CREDENTIAL
from connector.trust.credentials import (
    StatusEntry,
    issue_vc11_credential,
    read_credential_unverified,
    verify_credential,
)
from connector.trust.presentations import (
    PresentationResponseMessage,
    envelope_presentation,
    issue_presentation,
    issue_presentations,
    issue_vc11_presentation,
    parse_presentation_query,
    select_credentials,
    verify_presentation,
)
from connector.trust.scopes import EDC_VC_TYPE_ALIAS, VC_TYPE_ALIAS, parse_scope, parse_scopes, type_scope
from connector.trust.status_list import (
    bitstring_with,
    check_status,
    decode_bitstring,
    encode_bitstring,
    issue_status_list_2021_credential,
    valid_until_unverified,
    verify_status_list,
)
from connector.trust.tokens import MemoryReplayCache, check_access_token, issue_access_token, issue_id_token
from connector.trust.verifier import (
    NeedDidDocument,
    NeedPresentation,
    NeedStatusLists,
    Refusal,
    Verification,
    Verified,
)

MEMBERSHIP_SCOPE = type_scope(MEMBERSHIP_CREDENTIAL)


def refused(code: str, fn, *args, **kw) -> ConnectorError:
    with pytest.raises(ConnectorError) as err:
        fn(*args, **kw)
    assert err.value.code == code, f"{err.value.code}: {err.value.reason}"
    return err.value


def payload(token: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))


def sign(claims: dict[str, Any], key, kid: str, **header: Any) -> str:
    """Header alg and kid, and typ only when given (PyJWT would add typ JWT; EDC's tokens carry none). The claims
    are signed as they are (not checked as a JWT claims set), so that junk can be signed too."""
    headers = {"kid": kid, "typ": None, **header}
    return pyjwt.api_jws.encode(json.dumps(claims).encode(), key, algorithm="ES256", headers=headers)


def sl2021_status(world, index: int = 7) -> StatusEntry:
    return StatusEntry("revocation", index, world.status_url, type=vocab.STATUS_LIST_2021_ENTRY)


def vc11(world, now) -> str:
    return issue_vc11_credential(
        world.issuer_key,
        world.issuer_kid,
        world.authority_did,
        MEMBERSHIP_CREDENTIAL,
        {"id": world.a.did, "memberOf": "urn:dataspace:alpha", "memberSince": "2024-01-15"},
        now - timedelta(days=10),
        now + timedelta(days=365),
        sl2021_status(world),
    )


def sl2021_list(world, now, revoked: tuple[int, ...] = ()) -> str:
    return issue_status_list_2021_credential(
        world.issuer_key,
        world.issuer_kid,
        world.authority_did,
        world.status_url,
        revoked,
        now - timedelta(hours=1),
        now + timedelta(days=1),
    )


# --- VC Data Model 1.1 credentials ---------------------------------------------------------------------------


def test_a_vc11_credential_has_the_jwt_encoding_of_the_data_model(world, now) -> None:
    token = vc11(world, now)
    assert jws.read_header(token)["typ"] == "JWT"
    claims = payload(token)
    assert claims["iss"] == claims["vc"]["issuer"] == world.authority_did
    assert claims["sub"] == claims["vc"]["credentialSubject"]["id"] == world.a.did
    assert claims["jti"] == claims["vc"]["id"]
    assert claims["vc"]["@context"] == ["https://www.w3.org/2018/credentials/v1"]
    assert claims["vc"]["credentialStatus"]["type"] == "StatusList2021Entry"
    checked = verify_credential(token, world.store, world.a.did, now)
    assert checked.profile == vocab.PROFILE_VC11 and checked.status is not None
    assert (checked.status.type, checked.status.index, checked.status.list_url) == (
        "StatusList2021Entry",
        7,
        world.status_url,
    )
    assert checked.subject["memberOf"] == "urn:dataspace:alpha" and checked.types[1] == MEMBERSHIP_CREDENTIAL
    assert read_credential_unverified(token).profile == vocab.PROFILE_VC11


def tck_style_vc11(world, now, **changes: Any) -> dict[str, Any]:
    """As the DCP TCK's credential generator writes one: the registered claims carry their own id and dates."""
    claims = {
        "iss": world.authority_did,
        "sub": world.a.did,
        "jti": str(uuid.uuid4()),
        "nbf": int(now.timestamp()),
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + 300,
        "vc": {
            "@context": ["https://www.w3.org/2018/credentials/v1"],
            "id": "urn:uuid:another-id",
            "type": ["VerifiableCredential", "MembershipCredential"],
            "issuer": world.authority_did,
            "issuanceDate": "2024-01-01T00:00:00Z",
            "credentialSubject": {"id": world.a.did, "memberOf": "urn:dataspace:alpha", "memberSince": "2024-01-15"},
            "credentialStatus": sl2021_status(world).to_json(),
        },
    }
    claims.update(changes)
    return claims


def test_in_vc11_the_registered_claims_stand_for_id_and_dates(world, now) -> None:
    claims = tck_style_vc11(world, now)
    checked = verify_credential(sign(claims, world.issuer_key, world.issuer_kid), world.store, world.a.did, now)
    assert checked.id == claims["jti"]
    assert checked.valid_from == now and checked.valid_until == now + timedelta(seconds=300)


def test_vc11_without_jwt_claims_reads_the_vc_properties(world, now) -> None:
    claims = tck_style_vc11(world, now)
    for name in ("iss", "sub", "jti", "nbf", "exp"):
        del claims[name]
    claims["vc"]["expirationDate"] = "2026-01-01T00:00:00Z"
    checked = verify_credential(sign(claims, world.issuer_key, world.issuer_kid), world.store, world.a.did, now)
    assert checked.id == "urn:uuid:another-id" and checked.issuer == world.authority_did
    assert checked.subject["id"] == world.a.did and checked.valid_until.year == 2026


@pytest.mark.parametrize(
    "mutate, code",
    [
        (lambda c: c.update(iss="did:web:localhost%3A8443:evil"), "credential.malformed"),
        (lambda c: c.update(sub="did:web:localhost%3A8443:org-b"), "credential.malformed"),
        (lambda c: (c.pop("jti"), c["vc"].pop("id")), "credential.malformed"),
        (lambda c: c.update(vc="a string"), "credential.malformed"),
        (lambda c: c.update({"@context": ["https://www.w3.org/ns/credentials/v2"]}), "credential.malformed"),
        (lambda c: c["vc"].update({"@context": ["https://www.w3.org/ns/credentials/v2"]}), "credential.malformed"),
        (lambda c: c.pop("exp"), "credential.malformed"),  # no expiry either way
        (lambda c: c.update(vp={}), "credential.malformed"),
        (lambda c: c["vc"]["credentialSubject"].pop("id") and c.pop("sub"), "credential.malformed"),
        (lambda c: c.update(exp=c["nbf"] - 1), "credential.malformed"),
    ],
)
def test_vc11_credentials_are_read_strictly(world, now, mutate, code) -> None:
    claims = tck_style_vc11(world, now)
    mutate(claims)
    refused(code, verify_credential, sign(claims, world.issuer_key, world.issuer_kid), world.store, world.a.did, now)


@pytest.mark.parametrize("typ", ["vc+jwt", "vp+jwt", "at+jwt"])
def test_a_vc11_credential_declaring_another_media_type_is_refused(world, now, typ) -> None:
    token = sign(tck_style_vc11(world, now), world.issuer_key, world.issuer_kid, typ=typ)
    refused("credential.media_type", verify_credential, token, world.store, world.a.did, now)


# --- VC Data Model 2.0 credentials as EDC IssuerService writes them ---------------------------------------


def test_a_vc20_credential_without_typ_with_a_subject_list_and_nanoseconds_is_read(world, now) -> None:
    claims = payload(world.membership(world.a.did))
    for name in ("iss", "sub", "jti", "iat"):
        claims.pop(name)
    claims["id"] = str(uuid.uuid4())
    claims["credentialSubject"] = [claims["credentialSubject"]]
    claims["validFrom"] = "2025-05-22T12:00:00.123456789Z"
    checked = verify_credential(sign(claims, world.issuer_key, world.issuer_kid), world.store, world.a.did, now)
    assert checked.profile == vocab.PROFILE_VC20 and checked.subject["id"] == world.a.did
    typed = sign(claims, world.issuer_key, world.issuer_kid, typ="application/vc+jwt")
    assert verify_credential(typed, world.store, world.a.did, now)
    claims["credentialSubject"] = claims["credentialSubject"] * 2
    two = sign(claims, world.issuer_key, world.issuer_kid)
    refused("credential.malformed", verify_credential, two, world.store, world.a.did, now)


# --- Status List 2021 ---------------------------------------------------------------------------------------


def test_a_status_list_2021_credential_revokes_vc11_credentials(world, now) -> None:
    checked = verify_credential(vc11(world, now), world.store, world.a.did, now)
    listed = verify_status_list(sl2021_list(world, now), world.store, world.authority_did, world.status_url, now)
    assert listed.kind == vocab.STATUS_LIST_2021 and listed.size == 131_072
    check_status(checked.status, listed)
    revoked = verify_status_list(sl2021_list(world, now, (7,)), world.store, world.authority_did, world.status_url, now)
    refused("credential.revoked", check_status, checked.status, revoked)
    assert valid_until_unverified(sl2021_list(world, now)) == listed.valid_until


def test_a_status_entry_is_looked_up_only_in_a_list_of_its_own_kind(world, now) -> None:
    bitstring = verify_status_list(world.status_list(), world.store, world.authority_did, world.status_url, now)
    sl2021 = verify_status_list(sl2021_list(world, now), world.store, world.authority_did, world.status_url, now)
    refused("status.type_mismatch", check_status, sl2021_status(world), bitstring)
    refused("status.type_mismatch", check_status, world.status(), sl2021)


def test_status_list_2021_encodings_are_read_but_not_for_bitstring_lists() -> None:
    example = "H4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA"  # the draft's own example
    assert len(decode_bitstring(example, status_list_2021=True)) == 16 * 1024
    refused("status.list_malformed", decode_bitstring, example)
    bits = bitstring_with({3, 131_071})
    compressed = base64.urlsafe_b64decode(encode_bitstring(bits)[1:] + "==")
    standard = base64.b64encode(compressed).decode()  # as EDC writes a list without the multibase prefix
    assert decode_bitstring(standard, status_list_2021=True) == bits
    refused("status.list_malformed", decode_bitstring, standard.rstrip("="), status_list_2021=True)
    refused("status.list_malformed", decode_bitstring, standard + "==", status_list_2021=True)


def test_a_bitstring_list_in_a_vc11_jwt_is_read_as_edc_issuerservice_publishes_it(world, now) -> None:
    vc2 = payload(world.status_list(revoked=(7,)))
    vc = {k: v for k, v in vc2.items() if k not in ("iss", "jti", "iat", "exp", "validFrom", "validUntil")}
    vc["@context"] = ["https://www.w3.org/2018/credentials/v1"]
    vc["issuanceDate"], vc["expirationDate"] = vc2["validFrom"], vc2["validUntil"]
    token = sign({"iss": world.authority_did, "jti": vc2["id"], "vc": vc}, world.issuer_key, world.issuer_kid)
    listed = verify_status_list(token, world.store, world.authority_did, world.status_url, now)
    assert listed.kind == vocab.BITSTRING_STATUS_LIST and listed.is_set(7)
    assert valid_until_unverified(token) == listed.valid_until


def test_a_status_list_2021_credential_is_a_vc11_thing(world, now) -> None:
    vc = payload(sl2021_list(world, now))["vc"]
    claims = {**vc, "@context": ["https://www.w3.org/ns/credentials/v2"], "validFrom": vc["issuanceDate"]}
    claims["validUntil"] = vc["expirationDate"]
    token = sign(claims, world.issuer_key, world.issuer_kid, typ="vc+jwt")
    refused("status.list_malformed", verify_status_list, token, world.store, world.authority_did, world.status_url, now)


# --- presentations: what this node sends, as EDC reads it ----------------------------------------------------


def edc_reads(presentation: str) -> tuple[str, list[str], str]:
    """How EDC's verifier takes a JWT presentation apart (decentralized-claims JwtToVerifiablePresentationTransformer
    and Vcdm20JosePresentationVerifier): (holder, credential JWTs, data model). Written from reading them."""
    claims = payload(presentation)
    context = claims.get("@context")
    if (context if isinstance(context, list) else [context]).count("https://www.w3.org/ns/credentials/v2"):
        assert claims["type"] == "EnvelopedVerifiablePresentation", "VC 2.0 presentations must be enveloped"
        assert claims["id"].startswith("data:application/vp+jwt,")
        inner = payload(claims["id"][len("data:application/vp+jwt,") :])
        assert isinstance(inner["holder"], str)
        credentials = []
        for entry in inner["verifiableCredential"]:
            assert entry["type"] == "EnvelopedVerifiableCredential"  # compared as a string
            assert entry["id"].startswith("data:application/vc+jwt,")
            credentials.append(entry["id"][len("data:application/vc+jwt,") :])
        return inner["holder"], credentials, "2.0"
    vp = claims["vp"]
    assert all(isinstance(c, str) for c in vp["verifiableCredential"])
    return claims["iss"], list(vp["verifiableCredential"]), "1.1"


def test_our_presentations_are_one_per_profile_and_read_by_edc(world, now) -> None:
    v20, v11 = world.membership(world.a.did), vc11(world, now)
    presentations = issue_presentations(world.a.key, world.a.kid, world.a.did, world.b.did, [v11, v20], now)
    assert len(presentations) == 2
    assert edc_reads(presentations[0]) == (world.a.did, [v20], "2.0")
    assert edc_reads(presentations[1]) == (world.a.did, [v11], "1.1")
    first, second = (verify_presentation(p, world.a.document, world.a.did, world.b.did, now) for p in presentations)
    assert (first.profile, first.credentials) == (vocab.PROFILE_VC20, (v20,))
    assert (second.profile, second.credentials) == (vocab.PROFILE_VC11, (v11,))
    assert first.expires_at == second.expires_at == now + timedelta(seconds=300)
    for p in presentations:  # every layer carries the audience and the validity
        assert payload(p)["aud"] == world.b.did and payload(p)["exp"] - payload(p)["iat"] == 300


def test_without_credentials_one_empty_vc20_presentation_is_sent(world, now) -> None:
    (only,) = issue_presentations(world.a.key, world.a.kid, world.a.did, world.b.did, [], now)
    assert edc_reads(only) == (world.a.did, [], "2.0")


# --- presentations: what EDC IdentityHub and the DCP TCK send -------------------------------------------------


def identityhub_vc20(world, credentials: list[str], key=None, kid=None, **outer: Any) -> str:
    """As IdentityHub's JwtEnvelopedPresentationGenerator writes one: two JWTs, no aud, iat or exp, no typ."""
    key, kid = key or world.a.key, kid or world.a.kid
    inner = sign(
        {
            "@context": ["https://www.w3.org/ns/credentials/v2"],
            "type": "VerifiablePresentation",
            "holder": world.a.did,
            "verifiableCredential": [
                {
                    "@context": "https://www.w3.org/ns/credentials/v2",
                    "id": f"data:application/vc+jwt,{c}",
                    "type": "EnvelopedVerifiableCredential",
                }
                for c in credentials
            ],
        },
        key,
        kid,
    )
    claims = {
        "id": f"data:application/vp+jwt,{inner}",
        "type": "EnvelopedVerifiablePresentation",
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        **outer,
    }
    return sign(claims, key, kid)


def test_an_identityhub_vc20_presentation_is_accepted(world, now) -> None:
    credential = world.membership(world.a.did)
    verified = verify_presentation(
        identityhub_vc20(world, [credential]), world.a.document, world.a.did, world.b.did, now
    )
    assert verified.credentials == (credential,) and verified.profile == vocab.PROFILE_VC20
    assert verified.expires_at is None and verified.kid == world.a.kid


@pytest.mark.parametrize(
    "make, code",
    [
        (lambda w, c: identityhub_vc20(w, c, key=w.b.key, kid=w.b.kid), "presentation.signer_not_holder"),
        (lambda w, c: identityhub_vc20(w, c, aud=w.a.did), "presentation.audience"),
        (lambda w, c: identityhub_vc20(w, c, exp=1_700_000_000, iat=1_699_999_900), "presentation.expired"),
        (lambda w, c: identityhub_vc20(w, c, iss=w.b.did), "presentation.malformed"),
        (
            lambda w, c: sign(
                {**payload(identityhub_vc20(w, c)), "id": "data:application/vc+jwt,x.y.z"}, w.a.key, w.a.kid
            ),
            "presentation.malformed",
        ),
        (
            lambda w, c: sign(
                {**payload(identityhub_vc20(w, c)), "id": "data:application/vp+jwt," + identityhub_vc20(w, c)},
                w.a.key,
                w.a.kid,
            ),
            "presentation.malformed",
        ),
        (lambda w, c: identityhub_vc20(w, c)[:-4] + "AAAA", "presentation.signature"),
    ],
)
def test_wrapped_presentations_are_checked_on_both_layers(world, now, make, code) -> None:
    token = make(world, [world.membership(world.a.did)])
    refused(code, verify_presentation, token, world.a.document, world.a.did, world.b.did, now)


def test_the_inner_presentation_of_a_wrapper_must_be_the_holders(world, now) -> None:
    foreign = issue_presentation(world.b.key, world.b.kid, world.b.did, world.b.did, [], now)
    wrapped = envelope_presentation(world.a.key, world.a.kid, world.a.did, world.b.did, foreign, now)
    refused(
        "presentation.holder_mismatch", verify_presentation, wrapped, world.a.document, world.a.did, world.b.did, now
    )


def vc11_presentation_claims(world, now, credentials: list[str], **changes: Any) -> dict[str, Any]:
    """As the DCP TCK's (and, with a 60 s expiry, IdentityHub's) JwtPresentationGenerator writes one."""
    claims = {
        "iss": world.a.did,
        "aud": world.b.did,
        "sub": world.a.did,
        "jti": str(uuid.uuid4()),
        "nbf": int(now.timestamp()),
        "iat": int(now.timestamp()),
        "exp": int(now.timestamp()) + 300,
        "vp": {
            "@context": [
                "https://www.w3.org/2018/credentials/v1",
                "https://identity.foundation/presentation-exchange/submission/v1",
            ],
            "type": "VerifiablePresentation",
            "verifiableCredential": credentials,
        },
    }
    claims.update(changes)
    return claims


def test_a_tck_style_vc11_presentation_is_accepted(world, now) -> None:
    credential = vc11(world, now)
    token = sign(vc11_presentation_claims(world, now, [credential]), world.a.key, world.a.kid)
    verified = verify_presentation(token, world.a.document, world.a.did, world.b.did, now)
    assert verified.profile == vocab.PROFILE_VC11 and verified.credentials == (credential,)
    assert verified.holder == world.a.did and verified.expires_at == now + timedelta(seconds=300)
    ours = issue_vc11_presentation(world.a.key, world.a.kid, world.a.did, world.b.did, [credential], now, nonce="n")
    assert verify_presentation(ours, world.a.document, world.a.did, world.b.did, now).nonce == "n"


@pytest.mark.parametrize(
    "change, code",
    [
        ({"aud": "did:web:localhost%3A8443:org-c"}, "presentation.audience"),
        ({"exp": 1_700_000_000}, "presentation.expired"),
        ({"iss": "did:web:localhost%3A8443:org-c"}, "presentation.holder_mismatch"),
        ({"vp": "not an object"}, "presentation.malformed"),
        ({"verifiableCredential": []}, "presentation.malformed"),
    ],
)
def test_vc11_presentations_need_audience_validity_and_their_holder(world, now, change, code) -> None:
    token = sign(vc11_presentation_claims(world, now, [vc11(world, now)], **change), world.a.key, world.a.kid)
    refused(code, verify_presentation, token, world.a.document, world.a.did, world.b.did, now)


def test_a_vc11_presentation_naming_two_holders_is_refused(world, now) -> None:
    claims = vc11_presentation_claims(world, now, [vc11(world, now)], iss=world.b.did)
    claims["vp"]["holder"] = world.a.did
    token = sign(claims, world.a.key, world.a.kid)
    refused("presentation.malformed", verify_presentation, token, world.a.document, world.a.did, world.b.did, now)


def test_vc11_presentations_carry_credential_jwts_not_envelopes(world, now) -> None:
    envelope = {"id": "data:application/vc+jwt," + vc11(world, now), "type": "EnvelopedVerifiableCredential"}
    token = sign(vc11_presentation_claims(world, now, [envelope]), world.a.key, world.a.kid)
    refused("presentation.malformed", verify_presentation, token, world.a.document, world.a.did, world.b.did, now)
    no_aud = vc11_presentation_claims(world, now, [vc11(world, now)])
    del no_aud["aud"]
    refused(
        "presentation.audience",
        verify_presentation,
        sign(no_aud, world.a.key, world.a.kid),
        world.a.document,
        world.a.did,
        world.b.did,
        now,
    )


# --- the verifier plan with both profiles -----------------------------------------------------------------


def verify_with(world, now, make_presentations, lists: dict[str, str]) -> Verified | Refusal:
    """Drive the plan against a credential service that answers with `make_presentations(grant)`."""
    access = issue_access_token(world.a.key, world.a.kid, world.a.did, world.b.did, [MEMBERSHIP_SCOPE], now)
    plan = Verification(world.b.did, world.store, [MEMBERSHIP_SCOPE], MemoryReplayCache())
    step = plan.check_token(
        issue_id_token(world.a.key, world.a.kid, world.a.did, world.b.did, access, now), world.a.did, now
    )
    while not isinstance(step, (Verified, Refusal)):
        if isinstance(step, NeedDidDocument):
            step = plan.with_did_document(world.a.document_json, now)
        elif isinstance(step, NeedPresentation):
            own = issue_id_token(world.b.key, world.b.kid, world.b.did, step.holder, step.access_token, now)
            grant = check_access_token(own, world.b.document, world.a.document, world.b.did, now)
            parse_presentation_query(step.body())
            step = plan.with_presentation(PresentationResponseMessage(tuple(make_presentations(grant))).body(), now)
        elif isinstance(step, NeedStatusLists):
            step = plan.with_status_list(step.urls[0], lists[step.urls[0]], now, now)
    return step


def test_a_vc11_peer_is_verified_and_revocation_uses_its_status_list_2021(world, now) -> None:
    credential = vc11(world, now)

    def present(grant):
        return [sign(vc11_presentation_claims(world, now, [credential]), world.a.key, world.a.kid)]

    step = verify_with(world, now, present, {world.status_url: sl2021_list(world, now)})
    assert isinstance(step, Verified), step
    (verified,) = step.claims.credentials
    assert verified.issuer == world.authority_did and verified.subject["memberSince"] == "2024-01-15"
    step = verify_with(world, now, present, {world.status_url: sl2021_list(world, now, (7,))})
    assert isinstance(step, Refusal) and step.code == "credential.revoked"


def test_an_identityhub_peer_is_verified(world, now) -> None:
    step = verify_with(
        world,
        now,
        lambda g: [identityhub_vc20(world, [world.membership(world.a.did)])],
        {world.status_url: world.status_list()},
    )
    assert isinstance(step, Verified), step
    assert step.claims.notes["presentation"] == "fetched"


@pytest.mark.parametrize("mixed", ["vc20-in-vc11", "vc11-in-vc20"])
def test_heterogeneous_presentations_are_refused(world, now, mixed) -> None:
    if mixed == "vc20-in-vc11":
        present = [
            sign(vc11_presentation_claims(world, now, [world.membership(world.a.did)]), world.a.key, world.a.kid)
        ]
    else:
        present = [issue_presentation(world.a.key, world.a.kid, world.a.did, world.b.did, [vc11(world, now)], now)]
    step = verify_with(world, now, lambda g: present, {world.status_url: world.status_list()})
    assert isinstance(step, Refusal) and step.code == "presentation.heterogeneous", step


def test_the_holder_selects_both_profiles_by_scope_whichever_alias_spells_it(world, now) -> None:
    v20, v11 = world.membership(world.a.did), vc11(world, now)
    organization = world.organization(world.a.did)
    edc = parse_scope(f"{EDC_VC_TYPE_ALIAS}:{MEMBERSHIP_CREDENTIAL}:read")
    assert select_credentials([v20, v11, organization], [edc]) == (v20, v11)
    access = issue_access_token(world.a.key, world.a.kid, world.a.did, world.b.did, [MEMBERSHIP_SCOPE], now)
    own = issue_id_token(world.b.key, world.b.kid, world.b.did, world.a.did, access, now)
    grant = check_access_token(own, world.b.document, world.a.document, world.b.did, now)
    assert grant.allowed([str(edc), type_scope("OrganizationCredential")]) == (edc,)
    assert grant.permits(str(edc)) and grant.permits(f"{VC_TYPE_ALIAS}:{MEMBERSHIP_CREDENTIAL}")


# --- scopes -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "org.eclipse.edc.vc.type:MembershipCredential:read",
        "org.eclipse.edc.vc.type:MembershipCredential",
        "org.eclipse.dspace.dcp.vc.type:MembershipCredential:read",
        "org.eclipse.dspace.dcp.vc.type:MembershipCredential",
    ],
)
def test_both_type_aliases_are_understood_and_grant_alike(text) -> None:
    scope = parse_scope(text)
    assert scope.grant == ("type", MEMBERSHIP_CREDENTIAL, "read") and str(parse_scope(str(scope))) == str(scope)
    assert scope.matches(["VerifiableCredential", MEMBERSHIP_CREDENTIAL], None)
    assert not scope.matches(["VerifiableCredential", "OrganizationCredential"], MEMBERSHIP_CREDENTIAL)


@pytest.mark.parametrize(
    "text",
    [
        "org.eclipse.edc.vc.type:MembershipCredential:write",
        "org.eclipse.edc.vc.type:MembershipCredential:all",
        "org.eclipse.edc.vc.type::read",
        "org.eclipse.edc.vc.type:a:b:read",
        "org.eclipse.edc.vc.id:urn:uuid:1:read",
        "org.eclipse.edc.vc.type.MembershipCredential:read",
    ],
)
def test_the_edc_alias_is_read_as_strictly_as_the_dcp_one(text) -> None:
    refused("scope.invalid", parse_scope, text)


def test_scopes_of_both_aliases_stay_distinct_strings_but_one_grant() -> None:
    a, b = parse_scopes([f"{EDC_VC_TYPE_ALIAS}:X:read", f"{VC_TYPE_ALIAS}:X:read"])
    assert a != b and a.grant == b.grant


def test_the_membership_credential_dates_and_holder_survive_both_profiles(world, now) -> None:
    v20 = verify_credential(world.membership(world.a.did), world.store, world.a.did, now)
    v11 = verify_credential(vc11(world, now), world.store, world.a.did, now)
    assert dict(v20.subject) == dict(v11.subject)
    assert v11.subject["memberSince"] == date(2024, 1, 15).isoformat()


# --- robustness: any signed junk in the new shapes is a named refusal, never another exception ------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)
_vc_members = st.dictionaries(
    st.sampled_from(
        ["@context", "id", "type", "issuer", "issuanceDate", "expirationDate", "credentialSubject", "credentialStatus"]
    ),
    _json,
    max_size=3,
)
_jwt_members = st.dictionaries(
    st.sampled_from(["iss", "sub", "jti", "nbf", "iat", "exp", "vp", "@context"]), _json, max_size=2
)


@given(vc=_vc_members, claims=_jwt_members)
@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
def test_the_vc11_reader_raises_only_connector_error_on_signed_junk(world, now, vc, claims) -> None:
    base = tck_style_vc11(world, now)
    token = sign({**base, **claims, "vc": {**base["vc"], **vc}}, world.issuer_key, world.issuer_kid)
    for check in (
        lambda: verify_credential(token, world.store, world.a.did, now),
        lambda: verify_status_list(token, world.store, world.authority_did, world.status_url, now),
        lambda: read_credential_unverified(token),
    ):
        try:
            check()
        except ConnectorError:
            pass


_vp_members = st.dictionaries(
    st.sampled_from(["@context", "type", "holder", "verifiableCredential", "id", "iss", "aud", "exp", "iat", "vp"]),
    _json,
    max_size=3,
)


@given(outer=_vp_members, inner=_vp_members, vc11_form=st.booleans())
@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
def test_the_presentation_readers_raise_only_connector_error_on_signed_junk(
    world, now, outer, inner, vc11_form
) -> None:
    credential = world.membership(world.a.did)
    if vc11_form:
        base = vc11_presentation_claims(world, now, [credential])
        token = sign({**base, **outer, "vp": {**base["vp"], **inner}}, world.a.key, world.a.kid)
    else:
        wrapped = payload(identityhub_vc20(world, [credential]))
        inner_token = sign({**payload(wrapped["id"].split(",", 1)[1]), **inner}, world.a.key, world.a.kid)
        token = sign({**wrapped, "id": f"data:application/vp+jwt,{inner_token}", **outer}, world.a.key, world.a.kid)
    try:
        verify_presentation(token, world.a.document, world.a.did, world.b.did, now)
    except ConnectorError:
        pass


def test_a_presentation_without_kid_is_checked_with_the_holders_one_authentication_key(world, now) -> None:
    credential = vc11(world, now)
    token = pyjwt.api_jws.encode(
        json.dumps(vc11_presentation_claims(world, now, [credential])).encode(), world.a.key, algorithm="ES256"
    )
    assert verify_presentation(token, world.a.document, world.a.did, world.b.did, now).kid == world.a.kid
    wrapped = identityhub_vc20(world, [world.membership(world.a.did)])
    claims = payload(wrapped)
    inner = pyjwt.encode(payload(claims["id"].split(",", 1)[1]), world.a.key, algorithm="ES256", headers={"typ": None})
    bare = pyjwt.encode(
        {**claims, "id": f"data:application/vp+jwt,{inner}"}, world.a.key, algorithm="ES256", headers={"typ": None}
    )
    assert verify_presentation(bare, world.a.document, world.a.did, world.b.did, now).kid == world.a.kid
