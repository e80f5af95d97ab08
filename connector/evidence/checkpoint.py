"""Signed checkpoints: a node's commitment to the state of its evidence chain at a moment.

A checkpoint says "node N had `count` records and the last one hashed to `head` at time `at`", signed by N's
signing key with the chain to the federation root in ``x5c``. Once a checkpoint is out of the node's hands (sent
to a peer, exported, time-stamped), the node can no longer rewrite or truncate the records it covers without
being caught by `verify_chain(..., expect_head=...)` or `verify_inclusion`.

The JWS payload is the RFC 8785 canonical JSON of ``{"at", "count", "head", "node"}``. The checkpoint's own time
is the signer's claim; a trusted time comes from time-stamping `checkpoint_digest(jws)` (RFC 3161).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509

from connector import jsontext
from connector.canonical import canonical_bytes, sha256_hex
from connector.evidence.certpath import uri_sans
from connector.evidence.chain import GENESIS, ChainHead
from connector.evidence.errors import EvidenceError
from connector.evidence.rfc3339 import format_utc, parse_utc, require_aware
from connector.evidence.signer import SigningIdentity, did_of_kid, verify_signed
from connector.jws import sign_compact

TYP = "evidence-checkpoint+jws"
MAX_SKEW = timedelta(minutes=5)
_PAYLOAD_KEYS = {"at", "count", "head", "node"}


@dataclass(frozen=True)
class Checkpoint:
    """A verified checkpoint."""

    node: str
    count: int
    head: str
    at: str
    kid: str
    signer_cert: x509.Certificate
    jws: str

    @property
    def chain_head(self) -> ChainHead:
        return ChainHead(self.count, self.head)

    @property
    def at_datetime(self) -> datetime:
        return parse_utc(self.at)


def checkpoint_digest(jws: str) -> bytes:
    """The SHA-256 to time-stamp for a checkpoint: over the compact JWS exactly as issued."""
    return hashlib.sha256(jws.encode("ascii")).digest()


def checkpoint_sha256(jws: str) -> str:
    return sha256_hex(jws.encode("ascii"))


def make_checkpoint(signer: SigningIdentity, head: ChainHead, at: datetime) -> str:
    """A compact JWS committing `signer.did` to the chain state `head` at `at`."""
    if head.count < 0 or (head.count == 0 and head.hash != GENESIS):
        raise EvidenceError("checkpoint.head", "a checkpoint of an empty chain must commit to the genesis hash")
    payload = {"at": format_utc(at), "count": head.count, "head": head.hash, "node": signer.did}
    header = {"typ": TYP, "kid": signer.kid, "x5c": signer.x5c}
    return sign_compact(signer.key, canonical_bytes(payload), header)


def _payload(raw: bytes) -> dict[str, Any]:
    try:
        payload = jsontext.loads(raw)
    except ValueError:
        raise EvidenceError("checkpoint.malformed", "checkpoint payload is not JSON") from None
    if not isinstance(payload, dict) or set(payload) != _PAYLOAD_KEYS:
        raise EvidenceError("checkpoint.malformed", "checkpoint payload must hold exactly at, count, head and node")
    count, head, node = payload["count"], payload["head"], payload["node"]
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise EvidenceError("checkpoint.malformed", "count must be an integer >= 0", "count")
    if not isinstance(head, str) or len(head) != 64 or head.strip("0123456789abcdef"):
        raise EvidenceError("checkpoint.malformed", "head must be 64 lowercase hex digits", "head")
    if count == 0 and head != GENESIS:
        raise EvidenceError("checkpoint.malformed", "an empty chain's head is the genesis hash", "head")
    if not isinstance(node, str) or not node.startswith("did:"):
        raise EvidenceError("checkpoint.malformed", "node must be a DID", "node")
    try:
        parse_utc(payload["at"])
    except EvidenceError as exc:
        raise EvidenceError("checkpoint.malformed", exc.reason, "at") from None
    return payload


def verify_checkpoint(
    jws: str,
    trust_anchors: Sequence[x509.Certificate],
    now: datetime,
    *,
    expected_node: str | None = None,
    max_skew: timedelta = MAX_SKEW,
) -> Checkpoint:
    """Verify a checkpoint offline against the federation roots.

    The certificate chain is checked at `now`; an auditor verifying an old checkpoint passes the trusted
    time of the checkpoint (its RFC 3161 time-stamp) instead of the wall clock.
    """
    require_aware(now)
    header, raw, path = verify_signed(jws, trust_anchors, now, prefix="checkpoint", typ=TYP, non_repudiation=False)
    payload = _payload(raw)
    node = payload["node"]
    if expected_node is not None and node != expected_node:
        raise EvidenceError("checkpoint.node", f"checkpoint is by {node}, expected {expected_node}", "node")
    if node not in uri_sans(path.leaf):
        raise EvidenceError("checkpoint.signer", f"signing certificate does not belong to {node}", "x5c")
    kid = header.get("kid")
    if did_of_kid(kid) != node:
        raise EvidenceError("checkpoint.kid", f"kid must be a DID URL of {node}", "kid")
    if parse_utc(payload["at"]) > now + max_skew:
        raise EvidenceError("checkpoint.future", "checkpoint is dated in the future", "at")
    assert isinstance(kid, str)
    return Checkpoint(node, payload["count"], payload["head"], payload["at"], kid, path.leaf, jws)
