"""Archive manifests: a node's signed statement that records `first`..`last` of its evidence chain, following the
hash `prev` and ending at `head`, were moved at `at` to an archive file whose SHA-256 is `sha256`.

The records themselves are proven by the chain (each names the hash of the one before) and by the signed,
time-stamped checkpoint at `last` that the file carries and the live log keeps; the manifest binds the file as a
whole to the node, so that an archive cannot be swapped for another segment or edited. The JWS payload is the
RFC 8785 canonical JSON of the manifest's members.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from cryptography import x509

from connector.canonical import canonical_bytes
from connector.evidence.certpath import uri_sans
from connector.evidence.errors import EvidenceError
from connector.evidence.rfc3339 import parse_utc
from connector.evidence.signer import SigningIdentity, did_of_kid, verify_signed
from connector.jws import sign_compact

TYP = "evidence-archive+jws"
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class ArchiveManifest:
    node: str
    first: int
    last: int
    prev: str
    head: str
    sha256: str
    at: str


def make_manifest(signer: SigningIdentity, manifest: ArchiveManifest) -> str:
    if manifest.node != signer.did:
        raise EvidenceError("archive.node", "an archive manifest is signed by the node it names")
    header = {"typ": TYP, "kid": signer.kid, "x5c": signer.x5c}
    return sign_compact(signer.key, canonical_bytes(asdict(manifest)), header)


def _hex64(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX


def _manifest(raw: bytes) -> ArchiveManifest:
    try:
        payload = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise EvidenceError("archive.malformed", "the archive manifest is not JSON") from None
    names = {"node", "first", "last", "prev", "head", "sha256", "at"}
    if not isinstance(payload, dict) or set(payload) != names:
        raise EvidenceError("archive.malformed", f"an archive manifest holds exactly {', '.join(sorted(names))}")
    first, last = payload["first"], payload["last"]
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in (first, last)) or not 1 <= first <= last:
        raise EvidenceError("archive.malformed", "first and last are record numbers, 1 <= first <= last")
    if not all(_hex64(payload[k]) for k in ("prev", "head", "sha256")):
        raise EvidenceError("archive.malformed", "prev, head and sha256 are 64 lowercase hex digits")
    if not isinstance(payload["node"], str) or not isinstance(payload["at"], str):
        raise EvidenceError("archive.malformed", "node and at are strings")
    parse_utc(payload["at"])
    return ArchiveManifest(**payload)


def verify_manifest(
    jws: str, trust_anchors: Sequence[x509.Certificate], now: datetime, *, expected_node: str
) -> ArchiveManifest:
    """Verify an archive manifest offline against the federation roots (its certificates checked at `now`, the
    trusted time of the archive's checkpoint for an old archive)."""
    header, raw, path = verify_signed(jws, trust_anchors, now, prefix="archive", typ=TYP, non_repudiation=False)
    manifest = _manifest(raw)
    if manifest.node != expected_node:
        raise EvidenceError("archive.node", f"the archive is by {manifest.node}, expected {expected_node}")
    if expected_node not in uri_sans(path.leaf) or did_of_kid(header.get("kid")) != expected_node:
        raise EvidenceError("archive.signer", f"the archive's signing certificate does not belong to {expected_node}")
    return manifest
