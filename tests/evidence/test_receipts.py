"""Fulfilment receipts: signed by the consumer, verified offline against the federation's root, refused when
anything about them is not what they claim."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from typing import Any

import pytest

from connector.canonical import b64url, canonical_bytes
from connector.evidence.errors import EvidenceError
from connector.evidence.receipts import TYP, ReceiptClaims, make_receipt, read_claims, verify_receipt
from connector.evidence.signer import SigningIdentity
from connector.jws import sign_compact


def claims(consumer: SigningIdentity, provider: str, now: Any, **changes: Any) -> ReceiptClaims:
    base = ReceiptClaims(
        duty="delete",
        outcome="deleted",
        agreement_id="urn:uuid:agreement-1",
        dataset_id="traffic",
        provider=provider,
        consumer=consumer.did,
        provider_pid="urn:uuid:p-1",
        consumer_pid="urn:uuid:c-1",
        sha256="ab" * 32,
        size=1234,
        at=now,
        due=now + timedelta(days=1),
    )
    return dataclasses.replace(base, **changes)


def refused(jws: str, anchors: list, now: Any) -> str:
    with pytest.raises(EvidenceError) as err:
        verify_receipt(jws, anchors, now)
    return err.value.code


def test_a_receipt_round_trips_and_says_what_was_done(fed: Any, org_a: SigningIdentity, org_b: SigningIdentity) -> None:
    made = claims(org_b, org_a.did, fed.now)
    jws = make_receipt(org_b, made)
    facts = verify_receipt(jws, [fed.root], fed.now + timedelta(minutes=1))
    assert facts.claims == made and facts.kid == org_b.kid and facts.signer_cert == org_b.cert
    assert not made.late
    assert "deleted the data of transfer urn:uuid:c-1" in made.describe() and "by its deadline" in made.describe()
    late = dataclasses.replace(made, at=fed.now + timedelta(days=2))
    assert late.late and "AFTER its deadline" in late.describe()
    inform = claims(org_b, org_a.did, fed.now, duty="inform", outcome="used", due=None)
    assert verify_receipt(make_receipt(org_b, inform), [fed.root], fed.now).claims.duty == "inform"


def test_a_receipt_is_signed_only_by_the_consumer_it_names(
    fed: Any, org_a: SigningIdentity, org_b: SigningIdentity
) -> None:
    with pytest.raises(EvidenceError) as err:
        make_receipt(org_a, claims(org_b, org_a.did, fed.now))
    assert err.value.code == "receipt.signer"
    # Forged by hand: a payload naming org_b signed with org_a's key and certificate.
    header = {"typ": TYP, "kid": org_a.kid, "x5c": org_a.x5c}
    forged = sign_compact(org_a.key, canonical_bytes(claims(org_b, org_a.did, fed.now).to_json()), header)
    assert refused(forged, [fed.root], fed.now) == "receipt.signer"


def test_a_receipt_from_an_untrusted_authority_or_altered_does_not_verify(
    fed: Any, rogue: Any, org_a: SigningIdentity, org_b: SigningIdentity
) -> None:
    jws = make_receipt(org_b, claims(org_b, org_a.did, fed.now))
    assert refused(jws, [rogue.root], fed.now).startswith("certpath.")
    header, payload, signature = jws.split(".")
    changed = claims(org_b, org_a.did, fed.now, size=1).to_json()
    assert refused(f"{header}.{b64url(canonical_bytes(changed))}.{signature}", [fed.root], fed.now) == (
        "receipt.signature"
    )
    assert refused(jws, [fed.root], fed.now - timedelta(hours=1)) == "receipt.future"


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"duty": "attribute"}, "duty"),
        ({"outcome": "used"}, "outcome"),
        ({"sha256": "XY"}, "sha256"),
        ({"size": -1}, "size"),
        ({"provider": "someone"}, "provider"),
        ({"extra": 1}, None),
    ],
)
def test_malformed_claims_are_refused_naming_the_field(
    fed: Any, org_a: SigningIdentity, org_b: SigningIdentity, change: dict[str, Any], where: str | None
) -> None:
    payload = {**claims(org_b, org_a.did, fed.now).to_json(), **change}
    jws = sign_compact(org_b.key, canonical_bytes(payload), {"typ": TYP, "kid": org_b.kid, "x5c": org_b.x5c})
    with pytest.raises(EvidenceError) as err:
        read_claims(jws)
    assert err.value.code == "receipt.malformed" and err.value.where == where


def test_a_receipt_nested_past_reading_is_malformed(fed: Any, org_a: SigningIdentity, org_b: SigningIdentity) -> None:
    """A consumer may send any receipt: one whose payload nests past the JSON parser is refused before a
    signature or certificate is looked at."""
    jws = sign_compact(org_b.key, b"[" * 100_000, {"typ": TYP, "kid": org_b.kid, "x5c": org_b.x5c})
    for read in (read_claims, lambda token: verify_receipt(token, [fed.root], fed.now)):
        with pytest.raises(EvidenceError) as err:
            read(jws)
        assert err.value.code == "receipt.malformed"


def test_the_payload_is_the_canonical_json_of_the_claims(
    fed: Any, org_a: SigningIdentity, org_b: SigningIdentity
) -> None:
    made = claims(org_b, org_a.did, fed.now)
    jws = make_receipt(org_b, made)
    assert json.loads(canonical_bytes(made.to_json())) == made.to_json()
    assert read_claims(jws) == made
