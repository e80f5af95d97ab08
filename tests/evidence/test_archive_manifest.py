"""The signature on a node's archive: made only by the node the manifest names, and verified against the
federation's root for that node alone, over the manifest's exact bytes."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest

from connector.archive.format import TYP, FileEntry, Manifest, sign_manifest, verify_manifest
from connector.errors import ConnectorError
from connector.evidence.signer import SigningIdentity
from connector.jws import sign_detached


def manifest(node: str, at: Any) -> Manifest:
    return Manifest(
        node=node,
        created_at=at,
        schema_version=7,
        program="connector test",
        files=(FileEntry("agreements.jsonl", 1, "a" * 64),),
        records=3,
        head="b" * 64,
        checkpoints=1,
    )


def refusal(raw: bytes, jws: str, anchors: list) -> ConnectorError:
    with pytest.raises(ConnectorError) as refused:
        verify_manifest(raw, jws, anchors)
    assert refused.value.code == "archive.signature" and refused.value.where == "manifest.jws"
    return refused.value


def test_a_manifest_signed_by_its_node_verifies_as_it_was_written(fed: Any, org_a: SigningIdentity) -> None:
    written = manifest(org_a.did, fed.now)
    assert verify_manifest(written.to_bytes(), sign_manifest(written, org_a), [fed.root]) == written


def test_a_node_signs_no_archive_of_another(fed: Any, org_a: SigningIdentity, org_b: SigningIdentity) -> None:
    with pytest.raises(ConnectorError) as refused:
        sign_manifest(manifest(org_a.did, fed.now), org_b)
    assert refused.value.code == "archive.signer"


def test_an_archive_signed_by_another_member_of_the_federation_is_refused(
    fed: Any, org_a: SigningIdentity, org_b: SigningIdentity
) -> None:
    raw = manifest(org_a.did, fed.now).to_bytes()
    by_b = sign_detached(org_b.key, raw, {"typ": TYP, "kid": org_b.kid, "x5c": org_b.x5c})
    refused = refusal(raw, by_b, [fed.root])
    assert refused.code == "archive.signature" and f"not signed by {org_a.did}" in refused.reason
    # Nor with the node's key id claimed over the other's certificate.
    posing = sign_detached(org_b.key, raw, {"typ": TYP, "kid": org_a.kid, "x5c": org_b.x5c})
    assert refusal(raw, posing, [fed.root]).code == "archive.signature"


def test_an_archive_altered_or_signed_outside_the_federation_is_refused(
    fed: Any, rogue: Any, org_a: SigningIdentity
) -> None:
    written = manifest(org_a.did, fed.now)
    jws = sign_manifest(written, org_a)
    altered = dataclasses.replace(written, records=2).to_bytes()
    assert "signature does not verify" in refusal(altered, jws, [fed.root]).reason
    assert "to a trusted root" in refusal(written.to_bytes(), jws, [rogue.root]).reason
    impostor = rogue.identity(org_a.did)
    assert "to a trusted root" in refusal(written.to_bytes(), sign_manifest(written, impostor), [fed.root]).reason
    # A certificate checked at the time the archive says it was made: not before the node had one.
    early = dataclasses.replace(written, created_at=fed.now - timedelta(days=3650))
    assert "is not valid at" in refusal(early.to_bytes(), sign_manifest(early, org_a), [fed.root]).reason
