"""Fulfilment receipts: the consumer's signed statement that it fulfilled a usage duty of an agreement.

A receipt is a compact ES256 JWS (``typ`` ``duty-receipt+jws``) by the consumer's participant signing key, with
``kid`` a DID URL of the consumer and ``x5c`` its certificate chain, so that the provider, and an auditor with the
federation's root, can verify it offline, years later. Its payload is the RFC 8785 canonical JSON of::

    {"type": "DutyReceipt", "duty": "delete" | "inform", "outcome": ...,
     "agreementId", "datasetId", "provider": DID, "consumer": DID,
     "transfer": {"providerPid", "consumerPid"}, "sha256", "size",
     "at": RFC 3339 (when the duty was fulfilled), "due": RFC 3339 or null (a deletion's deadline)}

Outcomes: a ``delete`` receipt says ``deleted`` (the node removed the data it had received) or ``absent`` (the
data was no longer where the node had received it, or no longer the bytes it received: nothing of it was left
to remove); an ``inform`` receipt says ``used`` (the data of the transfer was received: one use). `sha256` and
`size` are those of the data received (as its provider sealed it), which ties a receipt to one delivery.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography import x509

from connector import jsontext
from connector.canonical import canonical_bytes, sha256_hex
from connector.errors import ConnectorError
from connector.evidence.certpath import uri_sans
from connector.evidence.errors import EvidenceError
from connector.evidence.rfc3339 import format_utc, parse_utc, require_aware
from connector.evidence.signer import SigningIdentity, did_of_kid, verify_signed
from connector.jws import read_payload_unverified, sign_compact

TYP = "duty-receipt+jws"
RECEIPT_TYPE = "DutyReceipt"
OUTCOMES: Mapping[str, tuple[str, ...]] = {"delete": ("deleted", "absent"), "inform": ("used",)}
_FIELDS = frozenset(
    {
        "type",
        "duty",
        "outcome",
        "agreementId",
        "datasetId",
        "provider",
        "consumer",
        "transfer",
        "sha256",
        "size",
        "at",
        "due",
    }
)
_HEX64 = re.compile(r"[0-9a-f]{64}")
_SKEW = timedelta(minutes=5)


def _bad(reason: str, where: str | None = None) -> EvidenceError:
    return EvidenceError("receipt.malformed", reason, where)


@dataclass(frozen=True)
class ReceiptClaims:
    duty: str
    outcome: str
    agreement_id: str
    dataset_id: str
    provider: str
    consumer: str
    provider_pid: str
    consumer_pid: str
    sha256: str
    size: int
    at: datetime
    due: datetime | None = None

    @property
    def late(self) -> bool:
        """A deletion made after its deadline."""
        return self.due is not None and self.at > self.due

    def to_json(self) -> dict[str, Any]:
        return {
            "type": RECEIPT_TYPE,
            "duty": self.duty,
            "outcome": self.outcome,
            "agreementId": self.agreement_id,
            "datasetId": self.dataset_id,
            "provider": self.provider,
            "consumer": self.consumer,
            "transfer": {"providerPid": self.provider_pid, "consumerPid": self.consumer_pid},
            "sha256": self.sha256,
            "size": self.size,
            "at": format_utc(self.at),
            "due": format_utc(self.due) if self.due is not None else None,
        }

    @classmethod
    def from_json(cls, value: Any) -> ReceiptClaims:
        """Strict: every field present with its type and nothing else (whatever is signed must also be read)."""
        if not isinstance(value, Mapping):
            raise _bad("the receipt's payload must be a JSON object")
        if set(value) != _FIELDS:
            extra, missing = sorted(set(value) - _FIELDS), sorted(_FIELDS - set(value))
            raise _bad(f"the receipt's fields differ from a {RECEIPT_TYPE} (unknown {extra}, missing {missing})")
        if value["type"] != RECEIPT_TYPE:
            raise _bad(f"the payload is not a {RECEIPT_TYPE}", "type")
        duty, outcome = value["duty"], value["outcome"]
        if duty not in OUTCOMES:
            raise _bad(f"duty must be one of {', '.join(OUTCOMES)}", "duty")
        if outcome not in OUTCOMES[duty]:
            raise _bad(f"a '{duty}' receipt's outcome is one of {', '.join(OUTCOMES[duty])}", "outcome")
        transfer = value["transfer"]
        if not isinstance(transfer, Mapping) or set(transfer) != {"providerPid", "consumerPid"}:
            raise _bad("transfer must hold exactly providerPid and consumerPid", "transfer")
        texts = {
            "agreementId": value["agreementId"],
            "datasetId": value["datasetId"],
            "provider": value["provider"],
            "consumer": value["consumer"],
            "transfer.providerPid": transfer["providerPid"],
            "transfer.consumerPid": transfer["consumerPid"],
        }
        for where, text in texts.items():
            if not isinstance(text, str) or not text:
                raise _bad(f"{where} must be a non-empty string", where)
        for where in ("provider", "consumer"):
            if not texts[where].startswith("did:"):
                raise _bad(f"{where} must be a DID", where)
        sha, size = value["sha256"], value["size"]
        if not isinstance(sha, str) or _HEX64.fullmatch(sha) is None:
            raise _bad("sha256 must be 64 lowercase hex digits", "sha256")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise _bad("size must be a non-negative integer", "size")
        try:
            at = parse_utc(value["at"])
            due = parse_utc(value["due"]) if value["due"] is not None else None
        except EvidenceError as exc:
            raise _bad(exc.reason, "at") from None
        if duty != "delete" and due is not None:
            raise _bad("only a deletion has a deadline", "due")
        return cls(
            duty=duty,
            outcome=outcome,
            agreement_id=texts["agreementId"],
            dataset_id=texts["datasetId"],
            provider=texts["provider"],
            consumer=texts["consumer"],
            provider_pid=texts["transfer.providerPid"],
            consumer_pid=texts["transfer.consumerPid"],
            sha256=sha,
            size=size,
            at=at,
            due=due,
        )

    def describe(self) -> str:
        """One sentence, as a report states a verified receipt."""
        data = f"the data of transfer {self.consumer_pid} ({self.size} bytes, SHA-256 {self.sha256[:16]}...)"
        when = format_utc(self.at)
        if self.duty == "inform":
            return f"{self.consumer} informed {self.provider} of its use of {data} at {when}"
        did = "deleted" if self.outcome == "deleted" else "found nothing left to delete of"
        deadline = ""
        if self.due is not None:
            deadline = f", AFTER its deadline {format_utc(self.due)}" if self.late else ", by its deadline"
        return f"{self.consumer} {did} {data} at {when}{deadline}"


@dataclass(frozen=True)
class ReceiptFacts:
    """A verified receipt."""

    claims: ReceiptClaims
    kid: str
    signer_cert: x509.Certificate
    jws: str

    @property
    def sha256(self) -> str:
        return receipt_sha256(self.jws)


def receipt_sha256(jws: str) -> str:
    return sha256_hex(jws.encode("ascii"))


def make_receipt(signer: SigningIdentity, claims: ReceiptClaims) -> str:
    """The compact JWS of `claims`, signed by the consumer (`signer` must be the consumer the claims name)."""
    if claims.consumer != signer.did:
        raise EvidenceError("receipt.signer", f"a receipt of {claims.consumer} cannot be signed by {signer.did}")
    ReceiptClaims.from_json(json.loads(canonical_bytes(claims.to_json())))  # never issue what cannot be read
    header = {"typ": TYP, "kid": signer.kid, "x5c": signer.x5c}
    return sign_compact(signer.key, canonical_bytes(claims.to_json()), header)


def read_claims(jws: str) -> ReceiptClaims:
    """The claims of a receipt, NOT verified (to know when it claims to be made before verifying it then)."""
    try:
        return ReceiptClaims.from_json(jsontext.loads(read_payload_unverified(jws)))
    except ValueError:
        raise _bad("the receipt's payload is not JSON") from None
    except EvidenceError:
        raise
    except ConnectorError as exc:
        raise _bad(exc.reason) from None


def verify_receipt(jws: str, anchors: Sequence[x509.Certificate], now: datetime) -> ReceiptFacts:
    """Verify a receipt offline: its signature, a certificate of the consumer it names that chains to one of
    `anchors` at the time the receipt claims (which may not lie in the future of `now`)."""
    require_aware(now)
    if not isinstance(jws, str) or not jws.isascii():
        raise _bad("a receipt is a compact JWS")
    claims = read_claims(jws)
    if claims.at > now + _SKEW:
        raise EvidenceError("receipt.future", "the receipt is dated in the future", "at")
    header, raw, path = verify_signed(jws, anchors, claims.at, prefix="receipt", typ=TYP, non_repudiation=True)
    signed = ReceiptClaims.from_json(json.loads(raw))
    if claims.consumer not in uri_sans(path.leaf):
        raise EvidenceError("receipt.signer", f"the signing certificate does not belong to {claims.consumer}", "x5c")
    kid = header.get("kid")
    if did_of_kid(kid) != claims.consumer:
        raise EvidenceError("receipt.kid", f"kid must be a DID URL of {claims.consumer}", "kid")
    assert isinstance(kid, str)
    return ReceiptFacts(signed, kid, path.leaf, jws)
