from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from connector import jws
from connector.canonical import b64url, canonical_bytes
from connector.errors import Problem
from connector.evidence.digest import Digest
from connector.evidence.seal import Seal, SealError, SealExpectation, make_seal, verify_seal
from connector.keys import cert_der_b64, jwk_thumbprint, public_jwk

PROVIDER = "did:web:localhost%3A8443:org-a"
CONSUMER_PID = "urn:uuid:consumer-1"
DATA = b"id,name\r\n1,alpha\r\n"
DIGEST = Digest(hashlib.sha256(DATA).hexdigest(), len(DATA))
EXPECT = SealExpectation(
    dataset_id="urn:dataset:sales-2024",
    agreement_id="urn:uuid:agreement-7",
    provider_pid="urn:uuid:provider-3",
    consumer_pid=CONSUMER_PID,
    issuer=PROVIDER,
)


@pytest.fixture(scope="module")
def signer(authority: Any) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    return authority.issue_signing(PROVIDER)


@pytest.fixture
def seal_of(authority: Any, signer: Any, now: datetime) -> Callable[..., Seal]:
    def build(**overrides: Any) -> Seal:
        key, cert = overrides.pop("signer", signer)
        args: dict[str, Any] = dict(
            digest=DIGEST,
            media_type="text/csv",
            dataset_id=EXPECT.dataset_id,
            agreement_id=EXPECT.agreement_id,
            provider_pid=EXPECT.provider_pid,
            consumer_pid=EXPECT.consumer_pid,
            issuer=PROVIDER,
            issued_at=now,
            signing_key=key,
            signing_cert=cert,
            ca_certs=[authority.cert],
        )
        args.update(overrides)
        return make_seal(**args)

    return build


def _verify(seal: Any, anchors: list[x509.Certificate], now: datetime, **kw: Any) -> Any:
    sha = kw.pop("sha256", DIGEST.sha256)
    size = kw.pop("size", DIGEST.size)
    expected = kw.pop("expected", EXPECT)
    return verify_seal(seal, sha, size, expected, anchors, now, **kw)


def _forge(claims: dict[str, Any], key: ec.EllipticCurvePrivateKey, chain: list[x509.Certificate], kid: str) -> dict:
    header = {"kid": kid, "x5c": [cert_der_b64(c) for c in chain]}
    return {"claims": claims, "jws": jws.sign_detached(key, canonical_bytes(claims), header)}


# --- round trip --------------------------------------------------------------------------------------------------


def test_a_seal_round_trips_through_json_and_verifies_offline(
    seal_of: Callable[..., Seal], authority: Any, signer: Any, now: datetime
) -> None:
    seal = seal_of()
    text = json.dumps(seal.to_json())
    facts = _verify(text, [authority.cert], now + timedelta(days=1))
    assert facts.claims == seal.claims
    assert facts.digest == DIGEST
    assert facts.claims.media_type == "text/csv"
    assert facts.kid == f"{PROVIDER}#{jwk_thumbprint(public_jwk(signer[0]))}"
    assert facts.signer_fingerprint == signer[1].fingerprint(hashes.SHA256()).hex()
    assert facts.anchor_subject == authority.cert.subject.rfc4514_string()
    assert _verify(text.encode(), [authority.cert], now).claims == seal.claims


def test_the_seal_covers_the_canonical_claims_with_kid_and_x5c(
    seal_of: Callable[..., Seal], authority: Any, signer: Any
) -> None:
    seal = seal_of(kid=f"{PROVIDER}#signing-1")
    header_part, payload_part, signature = seal.jws.split(".")
    assert payload_part == ""
    header = json.loads(base64.urlsafe_b64decode(header_part + "=="))
    assert header["alg"] == "ES256" and header["kid"] == f"{PROVIDER}#signing-1"
    assert header["x5c"] == [cert_der_b64(signer[1]), cert_der_b64(authority.cert)]
    jws.verify_detached(signer[1].public_key(), seal.jws, canonical_bytes(seal.to_json()["claims"]))
    claims = seal.to_json()["claims"]
    assert claims["transfer"] == {"providerPid": EXPECT.provider_pid, "consumerPid": CONSUMER_PID}
    assert claims["issuedAt"] == "2025-06-01T12:00:00Z" and claims["type"] == "DataSeal"


# --- the data ------------------------------------------------------------------------------------------------------


def test_a_tampered_byte_is_refused_naming_the_sha256(
    seal_of: Callable[..., Seal], authority: Any, now: datetime
) -> None:
    tampered = bytearray(DATA)
    tampered[3] ^= 0x01
    observed = hashlib.sha256(tampered).hexdigest()
    with pytest.raises(SealError) as caught:
        _verify(seal_of().to_json(), [authority.cert], now, sha256=observed)
    assert caught.value.code == "seal.data_mismatch" and caught.value.where == "sha256"
    assert caught.value.reason.startswith(f"the data's SHA-256 {observed} does not match the sealed")


def test_truncated_data_is_refused_naming_the_size(seal_of: Callable[..., Seal], authority: Any, now: datetime) -> None:
    with pytest.raises(SealError) as caught:
        _verify(seal_of().to_json(), [authority.cert], now, size=DIGEST.size - 1)
    assert caught.value.where == "size" and "size" in caught.value.reason


@pytest.mark.parametrize(
    ("field", "where"),
    [
        ("dataset_id", "datasetId"),
        ("agreement_id", "agreementId"),
        ("provider_pid", "transfer.providerPid"),
        ("consumer_pid", "transfer.consumerPid"),
        ("issuer", "issuer"),
    ],
)
def test_a_seal_for_another_dataset_agreement_transfer_or_issuer_is_refused(
    seal_of: Callable[..., Seal], authority: Any, now: datetime, field: str, where: str
) -> None:
    expected = SealExpectation(**{**EXPECT.__dict__, field: "urn:something:else"})
    with pytest.raises(SealError) as caught:
        _verify(seal_of().to_json(), [authority.cert], now, expected=expected)
    assert caught.value.code == "seal.mismatch" and caught.value.where == where
    assert "urn:something:else" in caught.value.reason


# --- the signature and the signer ----------------------------------------------------------------------------


def test_claims_changed_after_signing_break_the_signature(
    seal_of: Callable[..., Seal], authority: Any, now: datetime
) -> None:
    doc = seal_of().to_json()
    doc["claims"]["datasetId"] = "urn:dataset:other"
    with pytest.raises(SealError) as caught:
        _verify(doc, [authority.cert], now, expected=SealExpectation(**{**EXPECT.__dict__, "dataset_id": "x"}))
    assert caught.value.code == "seal.signature"


def test_a_seal_by_another_key_is_refused(seal_of: Callable[..., Seal], authority: Any, signer: Any, now: datetime):
    claims = seal_of().to_json()["claims"]
    intruder = ec.generate_private_key(ec.SECP256R1())
    forged = _forge(claims, intruder, [signer[1], authority.cert], f"{PROVIDER}#k")
    with pytest.raises(SealError) as caught:
        _verify(forged, [authority.cert], now)
    assert caught.value.code == "seal.signature"


def test_a_certificate_chaining_to_an_untrusted_root_is_refused(
    seal_of: Callable[..., Seal], authority: Any, new_authority: Any, now: datetime
) -> None:
    impostor_ca = new_authority(name="Test Federation Root")  # same name, different key
    seal = seal_of(signer=impostor_ca.issue_signing(PROVIDER), ca_certs=[impostor_ca.cert])
    with pytest.raises(SealError) as caught:
        _verify(seal.to_json(), [authority.cert], now)
    assert caught.value.code == "seal.untrusted"
    assert _verify(seal.to_json(), [authority.cert, impostor_ca.cert], now).claims.issuer == PROVIDER


def test_a_chain_through_an_intermediate_ca_is_followed_to_the_root(
    seal_of: Callable[..., Seal], authority: Any, new_authority: Any, now: datetime
) -> None:
    intermediate = new_authority(name="Issuing CA", parent=authority)
    seal = seal_of(signer=intermediate.issue_signing(PROVIDER), ca_certs=[intermediate.cert])
    assert _verify(seal.to_json(), [authority.cert], now).anchor_subject == authority.cert.subject.rfc4514_string()
    bare = seal_of(signer=intermediate.issue_signing(PROVIDER), ca_certs=[])
    with pytest.raises(SealError) as caught:
        _verify(bare.to_json(), [authority.cert], now)
    assert caught.value.code == "seal.untrusted"


def test_a_certificate_of_another_participant_cannot_seal_for_the_issuer(
    seal_of: Callable[..., Seal], authority: Any, now: datetime
) -> None:
    other_key, other_cert = authority.issue_signing("did:web:localhost%3A8443:org-b")
    with pytest.raises(SealError) as caught:
        seal_of(signer=(other_key, other_cert))
    assert caught.value.code == "seal.certificate"
    claims = seal_of().to_json()["claims"]
    forged = _forge(claims, other_key, [other_cert, authority.cert], f"{PROVIDER}#k")
    with pytest.raises(SealError) as caught:
        _verify(forged, [authority.cert], now)
    assert caught.value.code == "seal.certificate" and PROVIDER in caught.value.reason


def test_a_certificate_without_digital_signature_usage_is_refused(
    seal_of: Callable[..., Seal], authority: Any, now: datetime
) -> None:
    key, cert = authority.issue_signing(PROVIDER, digital_signature=False)
    forged = _forge(seal_of().to_json()["claims"], key, [cert, authority.cert], f"{PROVIDER}#k")
    with pytest.raises(SealError) as caught:
        _verify(forged, [authority.cert], now)
    assert caught.value.code == "seal.certificate" and "digitalSignature" in caught.value.reason


def test_a_ca_certificate_is_not_a_signing_certificate(
    seal_of: Callable[..., Seal], authority: Any, now: datetime
) -> None:
    key, cert = authority.issue_signing(PROVIDER, ca=True)
    forged = _forge(seal_of().to_json()["claims"], key, [cert, authority.cert], f"{PROVIDER}#k")
    with pytest.raises(SealError) as caught:
        _verify(forged, [authority.cert], now)
    assert caught.value.code == "seal.certificate"


def test_validity_is_judged_at_the_seals_time_not_at_verification(
    seal_of: Callable[..., Seal], authority: Any, now: datetime
) -> None:
    short = authority.issue_signing(PROVIDER, not_before=now - timedelta(days=2), not_after=now + timedelta(days=1))
    seal = seal_of(signer=short)
    assert _verify(seal.to_json(), [authority.cert], now + timedelta(days=400)).claims.issuer == PROVIDER
    with pytest.raises(SealError) as caught:
        seal_of(signer=short, issued_at=now + timedelta(days=2))
    assert caught.value.code == "seal.certificate"
    late_claims = {**seal.to_json()["claims"], "issuedAt": "2025-06-03T12:00:00Z"}
    late = _forge(late_claims, short[0], [short[1], authority.cert], f"{PROVIDER}#k")
    with pytest.raises(SealError) as caught:
        _verify(late, [authority.cert], now + timedelta(days=5))
    assert caught.value.code == "seal.certificate" and "not valid" in caught.value.reason


def test_a_seal_dated_in_the_future_is_refused(seal_of: Callable[..., Seal], authority: Any, now: datetime) -> None:
    seal = seal_of(issued_at=now + timedelta(hours=1))
    with pytest.raises(SealError) as caught:
        _verify(seal.to_json(), [authority.cert], now)
    assert caught.value.code == "seal.time"
    assert _verify(seal.to_json(), [authority.cert], now + timedelta(minutes=56)).claims.issuer == PROVIDER


def test_a_revoked_signing_certificate_is_refused_through_the_hook(
    seal_of: Callable[..., Seal], authority: Any, now: datetime
) -> None:
    def revoked(cert: x509.Certificate) -> Problem | None:
        return Problem("cert.revoked", "the signing certificate is revoked")

    with pytest.raises(SealError) as caught:
        _verify(seal_of().to_json(), [authority.cert], now, check_revocation=revoked)
    assert caught.value.code == "seal.revoked"


# --- malformed seals ---------------------------------------------------------------------------------------------


def _mutations(seal: dict) -> list[tuple[str, Any]]:
    claims = seal["claims"]
    h, _, s = seal["jws"].split(".")
    none_header = b64url(json.dumps({"alg": "none", "kid": f"{PROVIDER}#k"}).encode())
    return [
        ("not json", "{not json"),
        ("no jws", {"claims": claims}),
        ("extra top field", {**seal, "more": 1}),
        ("claims not object", {"claims": [], "jws": seal["jws"]}),
        ("unknown claim", {**seal, "claims": {**claims, "extra": 1}}),
        ("bad sha", {**seal, "claims": {**claims, "sha256": "ABC"}}),
        ("negative size", {**seal, "claims": {**claims, "size": -1}}),
        ("bool size", {**seal, "claims": {**claims, "size": True}}),
        ("wrong type", {**seal, "claims": {**claims, "type": "Agreement"}}),
        ("bad time", {**seal, "claims": {**claims, "issuedAt": "2025-06-01 12:00"}}),
        ("impossible time", {**seal, "claims": {**claims, "issuedAt": "2025-02-30T12:00:00Z"}}),
        ("transfer extra", {**seal, "claims": {**claims, "transfer": {**claims["transfer"], "x": "y"}}}),
        ("empty dataset", {**seal, "claims": {**claims, "datasetId": ""}}),
        ("alg none", {**seal, "jws": f"{none_header}..{s}"}),
        ("compact not detached", {**seal, "jws": f"{h}.{b64url(b'x')}.{s}"}),
    ]


def test_malformed_seals_are_refused_with_a_seal_problem(
    seal_of: Callable[..., Seal], authority: Any, now: datetime
) -> None:
    seal = seal_of().to_json()
    for label, mutated in _mutations(seal):
        with pytest.raises(SealError) as caught:
            _verify(mutated, [authority.cert], now)
        assert caught.value.code.startswith("seal."), label
        assert caught.value.code != "seal.data_mismatch", label


def test_a_kid_that_is_not_a_did_url_of_the_issuer_is_refused(
    seal_of: Callable[..., Seal], authority: Any, signer: Any, now: datetime
) -> None:
    claims = seal_of().to_json()["claims"]
    forged = _forge(claims, signer[0], [signer[1], authority.cert], "did:web:elsewhere#k")
    with pytest.raises(SealError) as caught:
        _verify(forged, [authority.cert], now)
    assert caught.value.code == "seal.kid"
    with pytest.raises(SealError):
        seal_of(kid="did:web:elsewhere#k")


def test_make_seal_refuses_a_key_that_is_not_the_certificates(seal_of: Callable[..., Seal], signer: Any) -> None:
    with pytest.raises(SealError) as caught:
        seal_of(signing_key=ec.generate_private_key(ec.SECP256R1()))
    assert caught.value.code == "seal.key_mismatch"


def test_a_root_that_had_expired_at_the_seals_time_vouches_for_nothing(authority: Any, now: datetime) -> None:
    from connector.evidence.certpath import SignerError, verify_signer

    _, cert = authority.issue_signing(PROVIDER, not_after=now + timedelta(days=4000))
    later = now + timedelta(days=3700)  # the leaf is still valid, the root is not
    assert verify_signer([cert], PROVIDER, [authority.cert], now).anchor == authority.cert
    with pytest.raises(SignerError) as caught:
        verify_signer([cert], PROVIDER, [authority.cert], later)
    assert caught.value.code == "signer.untrusted" and "was not valid" in caught.value.reason
