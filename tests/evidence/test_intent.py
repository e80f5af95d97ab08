from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from connector.canonical import b64url, b64url_decode, canonical_bytes, json_sha256
from connector.evidence import intent
from connector.evidence.errors import EvidenceError
from connector.evidence.intent import (
    countersign_agreement,
    sign_agreement,
    verify_agreement_signature,
)
from connector.evidence.signer import SigningIdentity
from connector.jws import sign_detached
from connector.trust.claims import VerifiedClaims, VerifiedCredential

CRED_B = "b" * 64
CRED_A = "a" * 64


def agreement(provider: str, consumer: str) -> dict[str, Any]:
    return {
        "@id": "urn:uuid:4b1f5a4e-agreement",
        "@type": "Agreement",
        "target": "urn:uuid:dataset-1",
        "assigner": provider,
        "assignee": consumer,
        "timestamp": "2025-03-01T12:00:00Z",
        "permission": [
            {
                "action": "use",
                "constraint": [{"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"}],
            }
        ],
    }


@pytest.fixture()
def deal(fed: Any, org_a: SigningIdentity, org_b: SigningIdentity) -> tuple[dict, str, str]:
    agr = agreement(org_a.did, org_b.did)
    psig = sign_agreement(agr, org_a, counterparty_credentials=[CRED_B], now=fed.now)
    csig = countersign_agreement(agr, psig, org_b, counterparty_credentials=[CRED_A], now=fed.now)
    return agr, psig, csig


def refusal(call: Any) -> str:
    with pytest.raises(EvidenceError) as err:
        call()
    return err.value.code


def test_provider_signature_verifies_offline(fed: Any, org_a: SigningIdentity, deal: tuple) -> None:
    agr, psig, _ = deal
    facts = verify_agreement_signature(agr, psig, org_a.did, [fed.root], fed.now)
    assert facts.signer == org_a.did and facts.role == intent.PROVIDER and facts.kid == org_a.kid
    assert facts.credential_sha256 == (CRED_B,)
    assert facts.agreement_sha256 == json_sha256(agr)
    assert facts.provider_signature_sha256 is None
    assert facts.issued_at == fed.now.replace(microsecond=0)
    assert "Federation A Root CA" in facts.root


def test_countersignature_verifies_and_covers_the_provider_signature(
    fed: Any, org_b: SigningIdentity, deal: tuple
) -> None:
    agr, psig, csig = deal
    facts = verify_agreement_signature(agr, csig, org_b.did, [fed.root], fed.now, provider_signature=psig)
    assert facts.role == intent.CONSUMER
    assert facts.provider_signature_sha256 == intent.signature_sha256(psig)
    assert facts.credential_sha256 == (CRED_A,)


def test_signature_is_detached_and_its_header_is_as_documented(org_a: SigningIdentity, deal: tuple) -> None:
    _, psig, csig = deal
    assert psig.split(".")[1] == ""
    header = json.loads(b64url_decode(psig.split(".")[0]))
    assert header["typ"] == "dsp-agreement+jws" and header["alg"] == "ES256"
    assert header["x5c"] == org_a.x5c and header["role"] == "provider" and isinstance(header["iat"], int)
    assert "psig_sha256" not in header
    assert "psig_sha256" in json.loads(b64url_decode(csig.split(".")[0]))


def test_key_order_of_the_agreement_does_not_matter(fed: Any, org_a: SigningIdentity, deal: tuple) -> None:
    agr, psig, _ = deal
    reordered = dict(reversed(list(agr.items())))
    assert verify_agreement_signature(reordered, psig, org_a.did, [fed.root], fed.now)


def test_changed_agreement_is_refused(fed: Any, org_a: SigningIdentity, org_b: SigningIdentity, deal: tuple) -> None:
    agr, psig, csig = deal
    changed = json.loads(json.dumps(agr).replace("research", "researcH"))
    assert refusal(lambda: verify_agreement_signature(changed, psig, org_a.did, [fed.root], fed.now)) == (
        "agreement.signature"
    )
    assert (
        refusal(
            lambda: verify_agreement_signature(changed, csig, org_b.did, [fed.root], fed.now, provider_signature=psig)
        )
        == "agreement.signature"
    )


def test_swapped_certificate_is_refused(fed: Any, org_a: SigningIdentity, org_c: SigningIdentity, deal: tuple) -> None:
    agr, psig, _ = deal
    h, _, s = psig.split(".")
    header = json.loads(b64url_decode(h))
    header["x5c"] = org_c.x5c
    forged = f"{b64url(json.dumps(header).encode())}..{s}"
    # The header is signed, so a different certificate no longer matches the signature, whoever is expected.
    for expected in (org_a.did, org_c.did):
        assert refusal(lambda e=expected: verify_agreement_signature(agr, forged, e, [fed.root], fed.now)) == (
            "agreement.signature"
        )


def test_signature_by_another_participant_is_refused(
    fed: Any, org_a: SigningIdentity, org_c: SigningIdentity, deal: tuple
) -> None:
    agr, _, _ = deal
    # org-c signs with its own valid certificate, but claims org-a's key id.
    header = {"typ": intent.TYP, "kid": org_a.kid, "x5c": org_c.x5c, "role": "provider", "iat": 1, "vc_sha256": []}
    forged = sign_detached(org_c.key, canonical_bytes(agr), header)
    assert refusal(lambda: verify_agreement_signature(agr, forged, org_a.did, [fed.root], fed.now)) == (
        "agreement.signer"
    )
    # Verified as org-c's signature it is genuine, but org-c is not a party with that role.
    assert refusal(lambda: verify_agreement_signature(agr, forged, org_c.did, [fed.root], fed.now)) == ("agreement.kid")


def test_signer_who_is_not_the_assigner_is_refused(fed: Any, org_c: SigningIdentity, deal: tuple) -> None:
    agr, _, _ = deal
    assert refusal(lambda: sign_agreement(agr, org_c, counterparty_credentials=[], now=fed.now)) == "agreement.party"
    header = {"typ": intent.TYP, "kid": org_c.kid, "x5c": org_c.x5c, "role": "provider", "iat": 1, "vc_sha256": []}
    forged = sign_detached(org_c.key, canonical_bytes(agr), header)
    assert refusal(lambda: verify_agreement_signature(agr, forged, org_c.did, [fed.root], fed.now)) == (
        "agreement.party"
    )


def test_consumer_signature_presented_as_provider_is_refused(fed: Any, org_b: SigningIdentity, deal: tuple) -> None:
    agr, psig, csig = deal
    assert (
        refusal(
            lambda: verify_agreement_signature(
                agr, csig, org_b.did, [fed.root], fed.now, provider_signature=psig, expected_role=intent.PROVIDER
            )
        )
        == "agreement.role"
    )


def test_untrusted_root_is_refused(fed: Any, rogue: Any, org_b: SigningIdentity) -> None:
    mallory = rogue.identity("did:web:localhost%3A8443:org-a")
    agr = agreement(mallory.did, org_b.did)
    sig = sign_agreement(agr, mallory, counterparty_credentials=[], now=fed.now)
    assert refusal(lambda: verify_agreement_signature(agr, sig, mallory.did, [fed.root], fed.now)) == (
        "certpath.untrusted"
    )
    assert verify_agreement_signature(agr, sig, mallory.did, [rogue.root], fed.now)


def test_countersignature_of_another_provider_signature_is_refused(
    fed: Any, org_a: SigningIdentity, org_b: SigningIdentity, deal: tuple
) -> None:
    agr, _, csig = deal
    other = sign_agreement(agr, org_a, counterparty_credentials=[], now=fed.now + timedelta(seconds=5))
    assert (
        refusal(lambda: verify_agreement_signature(agr, csig, org_b.did, [fed.root], fed.now, provider_signature=other))
        == "agreement.countersignature"
    )
    assert refusal(lambda: verify_agreement_signature(agr, csig, org_b.did, [fed.root], fed.now)) == (
        "agreement.countersignature"
    )


def test_countersigning_something_other_than_a_provider_signature_is_refused(
    fed: Any, org_b: SigningIdentity, deal: tuple
) -> None:
    agr, _, csig = deal
    assert (
        refusal(lambda: countersign_agreement(agr, csig, org_b, counterparty_credentials=[], now=fed.now))
        == "agreement.role"
    )
    assert (
        refusal(lambda: countersign_agreement(agr, "not-a-jws", org_b, counterparty_credentials=[], now=fed.now))
        == "agreement.malformed"
    )


def test_signing_certificate_without_non_repudiation_is_refused(fed: Any, org_b: SigningIdentity) -> None:
    signer = fed.identity("did:web:localhost%3A8443:org-d", usages=("digital_signature",))
    agr = agreement(signer.did, org_b.did)
    sig = sign_agreement(agr, signer, counterparty_credentials=[], now=fed.now)
    assert refusal(lambda: verify_agreement_signature(agr, sig, signer.did, [fed.root], fed.now)) == (
        "certpath.key_usage"
    )


def test_signature_dated_in_the_future_is_refused(fed: Any, org_a: SigningIdentity, deal: tuple) -> None:
    agr, _, _ = deal
    sig = sign_agreement(agr, org_a, counterparty_credentials=[], now=fed.now + timedelta(hours=2))
    assert refusal(lambda: verify_agreement_signature(agr, sig, org_a.did, [fed.root], fed.now)) == ("agreement.future")


def test_invalid_credential_hashes_are_refused(fed: Any, org_a: SigningIdentity, deal: tuple) -> None:
    agr, _, _ = deal
    assert (
        refusal(lambda: sign_agreement(agr, org_a, counterparty_credentials=["not-a-hash"], now=fed.now))
        == "agreement.credentials"
    )


def test_credential_hashes_come_from_verified_claims(fed: Any) -> None:
    def cred(digest: str) -> VerifiedCredential:
        return VerifiedCredential("urn:x", ("VerifiableCredential",), "did:web:i", "fed", {}, fed.now, None, digest)

    claims = VerifiedClaims("did:web:p", fed.now, (cred(CRED_B), cred(CRED_A), cred(CRED_B)))
    assert intent.credential_hashes(claims) == (CRED_A, CRED_B)


def test_naive_signing_time_is_refused(org_a: SigningIdentity, deal: tuple) -> None:
    agr, _, _ = deal
    assert (
        refusal(lambda: sign_agreement(agr, org_a, counterparty_credentials=[], now=datetime(2025, 1, 1)))
        == "time.naive"
    )


def test_party_given_as_an_id_object_is_understood(fed: Any, org_a: SigningIdentity, org_b: SigningIdentity) -> None:
    agr = agreement(org_a.did, org_b.did)
    agr["assigner"] = {"@id": org_a.did}
    sig = sign_agreement(agr, org_a, counterparty_credentials=[], now=fed.now)
    assert verify_agreement_signature(agr, sig, org_a.did, [fed.root], fed.now).role == intent.PROVIDER


def test_signatures_travel_beside_the_agreement_in_dsp_messages(deal: tuple) -> None:
    agr, psig, csig = deal
    message = {
        "@context": ["https://w3id.org/dspace/2025/1/context.jsonld"],
        "@type": "ContractAgreementMessage",
        "providerPid": "urn:uuid:p",
        "consumerPid": "urn:uuid:c",
        "agreement": agr,
    }
    sent = intent.with_signature(message, psig)
    assert sent["agreement"] == agr and intent.signature_in(sent) == psig
    assert intent.signature_in(message) is None
    verification = intent.with_countersignature({"@type": "ContractAgreementVerificationMessage"}, csig)
    assert intent.countersignature_in(verification) == csig
    assert intent.AGREEMENT_SIGNATURE.startswith("https://")
    assert intent.AGREEMENT_COUNTERSIGNATURE.startswith("https://")
    with pytest.raises(EvidenceError):
        intent.signature_in({intent.AGREEMENT_SIGNATURE: {"not": "a string"}})
