from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from connector.canonical import b64url, b64url_decode, canonical_bytes
from connector.evidence import chain as ch
from connector.evidence.chain import GENESIS, ChainHead, make_record, verify_chain
from connector.evidence.checkpoint import TYP, checkpoint_digest, make_checkpoint, verify_checkpoint
from connector.evidence.errors import EvidenceError
from connector.evidence.signer import SigningIdentity
from connector.jws import sign_compact


def records(pki_now: Any, n: int = 4) -> list[ch.Record]:
    out: list[ch.Record] = []
    for i in range(n):
        out.append(make_record(out[-1] if out else None, at=pki_now, kind=ch.DSP_SENT, data={"i": i}))
    return out


def code_of(jws: str, anchors: list, now: Any, **kw: Any) -> str:
    with pytest.raises(EvidenceError) as err:
        verify_checkpoint(jws, anchors, now, **kw)
    return err.value.code


def test_checkpoint_round_trip(fed: Any, org_a: SigningIdentity) -> None:
    log = records(fed.now)
    jws = make_checkpoint(org_a, log[-1].head, fed.now)
    cp = verify_checkpoint(jws, [fed.root], fed.now, expected_node=org_a.did)
    assert (cp.node, cp.count, cp.head, cp.kid) == (org_a.did, 4, log[-1].hash, org_a.kid)
    assert cp.at_datetime == fed.now
    assert cp.signer_cert == org_a.cert
    assert verify_chain(log, expect_head=cp.chain_head).ok


def test_header_carries_kid_x5c_and_type(fed: Any, org_a: SigningIdentity) -> None:
    jws = make_checkpoint(org_a, ChainHead(0, GENESIS), fed.now)
    header = json.loads(b64url_decode(jws.split(".")[0]))
    assert header["alg"] == "ES256" and header["typ"] == TYP and header["kid"] == org_a.kid
    assert header["x5c"] == org_a.x5c and len(header["x5c"]) == 2


def test_payload_is_canonical_json_of_the_commitment(fed: Any, org_a: SigningIdentity) -> None:
    jws = make_checkpoint(org_a, ChainHead(0, GENESIS), fed.now)
    payload = b64url_decode(jws.split(".")[1])
    assert payload == canonical_bytes(json.loads(payload))
    assert set(json.loads(payload)) == {"at", "count", "head", "node"}


def test_digest_to_time_stamp_is_over_the_jws(fed: Any, org_a: SigningIdentity) -> None:
    jws = make_checkpoint(org_a, ChainHead(0, GENESIS), fed.now)
    assert len(checkpoint_digest(jws)) == 32
    later = make_checkpoint(org_a, ChainHead(0, GENESIS), fed.now + timedelta(seconds=1))
    assert checkpoint_digest(jws) != checkpoint_digest(later)


def test_changed_payload_is_refused(fed: Any, org_a: SigningIdentity) -> None:
    log = records(fed.now)
    h, p, s = make_checkpoint(org_a, log[-1].head, fed.now).split(".")
    payload = json.loads(b64url_decode(p))
    payload["count"] = 3
    forged = f"{h}.{b64url(canonical_bytes(payload))}.{s}"
    assert code_of(forged, [fed.root], fed.now) == "checkpoint.signature"


def test_checkpoint_signed_by_another_node_for_this_node_is_refused(
    fed: Any, org_a: SigningIdentity, org_b: SigningIdentity
) -> None:
    # org-b signs a payload naming org-a, with its own valid certificate.
    payload = {"at": "2025-01-01T00:00:00.000000Z", "count": 0, "head": GENESIS, "node": org_a.did}
    forged = sign_compact(org_b.key, canonical_bytes(payload), {"typ": TYP, "kid": org_a.kid, "x5c": org_b.x5c})
    assert code_of(forged, [fed.root], fed.now) == "checkpoint.signer"


def test_a_member_signed_payload_nested_past_reading_is_malformed(fed: Any, org_b: SigningIdentity) -> None:
    # Any member can sign anything: a bundle handed to an auditor may carry such a checkpoint.
    forged = sign_compact(org_b.key, b"[" * 100_000, {"typ": TYP, "kid": org_b.kid, "x5c": org_b.x5c})
    assert code_of(forged, [fed.root], fed.now) == "checkpoint.malformed"


def test_unexpected_node_is_refused(fed: Any, org_b: SigningIdentity) -> None:
    jws = make_checkpoint(org_b, ChainHead(0, GENESIS), fed.now)
    assert code_of(jws, [fed.root], fed.now, expected_node="did:web:localhost%3A8443:org-a") == "checkpoint.node"


def test_untrusted_root_is_refused(fed: Any, rogue: Any) -> None:
    mallory = rogue.identity("did:web:localhost%3A8443:org-a")
    jws = make_checkpoint(mallory, ChainHead(0, GENESIS), fed.now)
    assert code_of(jws, [fed.root], fed.now) == "certpath.untrusted"


def test_swapped_certificate_is_refused(fed: Any, org_a: SigningIdentity, org_b: SigningIdentity) -> None:
    jws = make_checkpoint(org_a, ChainHead(0, GENESIS), fed.now)
    header = json.loads(b64url_decode(jws.split(".")[0]))
    header["x5c"] = org_b.x5c
    h = b64url(json.dumps(header).encode())
    forged = ".".join([h, *jws.split(".")[1:]])
    assert code_of(forged, [fed.root], fed.now) == "checkpoint.signature"


def test_checkpoint_outside_certificate_validity_is_refused(fed: Any, org_a: SigningIdentity) -> None:
    jws = make_checkpoint(org_a, ChainHead(0, GENESIS), fed.now)
    assert code_of(jws, [fed.root], fed.now + timedelta(days=4000)) == "certpath.validity"


def test_checkpoint_from_the_future_is_refused(fed: Any, org_a: SigningIdentity) -> None:
    jws = make_checkpoint(org_a, ChainHead(0, GENESIS), fed.now + timedelta(hours=1))
    assert code_of(jws, [fed.root], fed.now) == "checkpoint.future"


def test_other_token_types_are_refused(fed: Any, org_a: SigningIdentity) -> None:
    jws = sign_compact(org_a.key, b"{}", {"typ": "JWT", "kid": org_a.kid, "x5c": org_a.x5c})
    assert code_of(jws, [fed.root], fed.now) == "checkpoint.typ"


def test_unsigned_checkpoint_is_refused(fed: Any, org_a: SigningIdentity) -> None:
    h, p, _ = make_checkpoint(org_a, ChainHead(0, GENESIS), fed.now).split(".")
    header = json.loads(b64url_decode(h))
    header["alg"] = "none"
    forged = f"{b64url(json.dumps(header).encode())}.{p}."
    assert code_of(forged, [fed.root], fed.now) == "checkpoint.malformed"


@pytest.mark.parametrize(
    "payload",
    [
        {"at": "2025-01-01T00:00:00.000000Z", "count": 1, "head": GENESIS},
        {"at": "2025-01-01T00:00:00.000000Z", "count": -1, "head": GENESIS, "node": "did:web:x"},
        {"at": "2025-01-01T00:00:00.000000Z", "count": 0, "head": "a" * 64, "node": "did:web:x"},
        {"at": "2025-01-01T00:00:00Z", "count": 0, "head": GENESIS, "node": "did:web:x"},
        {"at": "2025-01-01T00:00:00.000000Z", "count": 2, "head": "ABC", "node": "did:web:x"},
    ],
)
def test_malformed_payloads_are_refused(fed: Any, org_a: SigningIdentity, payload: dict) -> None:
    jws = sign_compact(org_a.key, canonical_bytes(payload), {"typ": TYP, "kid": org_a.kid, "x5c": org_a.x5c})
    assert code_of(jws, [fed.root], fed.now) == "checkpoint.malformed"


def test_kid_of_another_did_is_refused(fed: Any, org_a: SigningIdentity) -> None:
    payload = {"at": "2025-01-01T00:00:00.000000Z", "count": 0, "head": GENESIS, "node": org_a.did}
    jws = sign_compact(
        org_a.key, canonical_bytes(payload), {"typ": TYP, "kid": "did:web:elsewhere#k", "x5c": org_a.x5c}
    )
    assert code_of(jws, [fed.root], fed.now) == "checkpoint.kid"


def test_empty_chain_checkpoint_must_commit_to_genesis(org_a: SigningIdentity, fed: Any) -> None:
    with pytest.raises(EvidenceError):
        make_checkpoint(org_a, ChainHead(0, "a" * 64), fed.now)


def test_signing_identity_refuses_mismatched_parts(fed: Any, org_a: SigningIdentity, org_b: SigningIdentity) -> None:
    with pytest.raises(EvidenceError) as err:
        SigningIdentity(org_a.did, org_a.kid, org_b.key, org_a.cert, org_a.chain)
    assert err.value.code == "signer.cert"
    with pytest.raises(EvidenceError) as err:
        SigningIdentity(org_a.did, f"{org_b.did}#sig-1", org_a.key, org_a.cert, org_a.chain)
    assert err.value.code == "signer.kid"
    with pytest.raises(EvidenceError) as err:
        SigningIdentity(org_b.did, f"{org_b.did}#sig-1", org_a.key, org_a.cert, org_a.chain)
    assert err.value.code == "signer.cert"
