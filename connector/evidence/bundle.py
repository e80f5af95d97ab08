"""The evidence bundle: one self-contained JSON file about one agreement, for an auditor who trusts nothing else.

Layout (version 1; every member is required, empty values say "none held")::

    {"type": "ConnectorEvidenceBundle", "version": 1,
     "exportedBy": DID, "exportedAt": RFC 3339,
     "agreement": {ODRL Agreement exactly as signed},
     "negotiation": {"id", "role", "peer", "providerPid", "consumerPid", "state"},
     "signatures": {"provider": {"status", "jws"}, "consumer": {"status", "jws"}},
     "credentials": [{"sha256", "holder", "id", "types", "issuer", "token"}],
     "didDocuments": {DID: DID document},
     "transfers": [{"id", "role", "providerPid", "consumerPid", "state", "format", "seal"}],
     "subjects": {sha256: JSON body a disclosed record hashed},
     "log": {"node": DID, "proof": {"records", "bodies", "upto"}, "checkpoint": compact JWS,
             "timestamps": [base64 DER RFC 3161 tokens]}}

Signature statuses: ``signed`` (by the exporting node), ``verified`` (the peer's, checked on arrival),
``unsigned`` (none was sent), ``invalid`` (one was sent and refused). Certificate chains travel inside the
signatures (``x5c``), the checkpoint and the seals; nothing in the bundle is believed because the bundle says
so: `connector.evidence.audit` re-derives every claim from signatures, hashes and the trust lists.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connector.evidence.chain import InclusionProof
from connector.evidence.errors import EvidenceError

BUNDLE_TYPE = "ConnectorEvidenceBundle"
BUNDLE_VERSION = 1
MEDIA_TYPE = "application/json"
ROLES = ("provider", "consumer")
STATUSES = ("signed", "verified", "unsigned", "invalid")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_TOP = {
    "type",
    "version",
    "exportedBy",
    "exportedAt",
    "agreement",
    "negotiation",
    "signatures",
    "credentials",
    "didDocuments",
    "transfers",
    "subjects",
    "log",
}


def _bad(reason: str, where: str) -> EvidenceError:
    return EvidenceError("bundle.malformed", reason, where)


def _text(obj: Mapping[str, Any], key: str, where: str, optional: bool = False) -> str | None:
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise _bad(f"{where}.{key} must be a non-empty string", f"{where}.{key}")
    return value


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"{where} must be a JSON object", where)
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise _bad(f"{where} must be a list", where)
    return value


@dataclass(frozen=True)
class HeldSignature:
    role: str
    status: str
    jws: str | None


@dataclass(frozen=True)
class HeldCredential:
    sha256: str
    holder: str
    id: str | None
    types: tuple[str, ...]
    issuer: str | None
    token: str | None


@dataclass(frozen=True)
class HeldTransfer:
    id: str
    role: str
    provider_pid: str | None
    consumer_pid: str | None
    state: str | None
    format: str | None
    seal: Mapping[str, Any] | None


@dataclass(frozen=True)
class Bundle:
    """A structurally valid bundle (nothing in it verified yet)."""

    exported_by: str
    exported_at: str
    agreement: Mapping[str, Any]
    negotiation: Mapping[str, Any]
    signatures: Mapping[str, HeldSignature]
    credentials: tuple[HeldCredential, ...]
    did_documents: Mapping[str, Mapping[str, Any]]
    transfers: tuple[HeldTransfer, ...]
    subjects: Mapping[str, Any]
    log_node: str
    proof: InclusionProof
    checkpoint: str
    timestamps: tuple[bytes, ...]
    raw: Mapping[str, Any]

    @property
    def agreement_id(self) -> str:
        return str(self.agreement["@id"])


def build_bundle(
    *,
    exported_by: str,
    exported_at: str,
    agreement: Mapping[str, Any],
    negotiation: Mapping[str, Any],
    signatures: Mapping[str, Mapping[str, Any]],
    credentials: list[Mapping[str, Any]],
    did_documents: Mapping[str, Mapping[str, Any]],
    transfers: list[Mapping[str, Any]],
    subjects: Mapping[str, Any],
    log_node: str,
    proof: InclusionProof,
    checkpoint: str,
    timestamps: list[bytes],
) -> dict[str, Any]:
    """Assemble the bundle document (and check it reads back, so an export is never unreadable)."""
    document = {
        "type": BUNDLE_TYPE,
        "version": BUNDLE_VERSION,
        "exportedBy": exported_by,
        "exportedAt": exported_at,
        "agreement": dict(agreement),
        "negotiation": dict(negotiation),
        "signatures": {role: dict(signatures.get(role) or {"status": "unsigned", "jws": None}) for role in ROLES},
        "credentials": [dict(c) for c in credentials],
        "didDocuments": {k: dict(v) for k, v in did_documents.items()},
        "transfers": [dict(t) for t in transfers],
        "subjects": dict(subjects),
        "log": {
            "node": log_node,
            "proof": proof.to_json(),
            "checkpoint": checkpoint,
            "timestamps": [base64.b64encode(t).decode("ascii") for t in timestamps],
        },
    }
    parse_bundle(document)
    return document


def parse_bundle(obj: Any) -> Bundle:
    """Read a bundle's structure; EvidenceError('bundle.malformed' or 'inclusion.malformed') naming the place."""
    doc = _object(obj, "$")
    if doc.get("type") != BUNDLE_TYPE or doc.get("version") != BUNDLE_VERSION:
        raise _bad(f"not a version {BUNDLE_VERSION} {BUNDLE_TYPE}", "type")
    missing = sorted(_TOP - set(doc))
    if missing:
        raise _bad(f"members missing: {', '.join(missing)}", missing[0])
    agreement = _object(doc["agreement"], "agreement")
    _text(agreement, "@id", "agreement")
    negotiation = _object(doc["negotiation"], "negotiation")
    _text(negotiation, "id", "negotiation")
    if negotiation.get("role") not in ROLES:
        raise _bad("negotiation.role must be provider or consumer", "negotiation.role")
    raw_signatures = _object(doc["signatures"], "signatures")
    signatures: dict[str, HeldSignature] = {}
    for role in ROLES:
        entry = _object(raw_signatures.get(role), f"signatures.{role}")
        status, jws = entry.get("status"), entry.get("jws")
        if status not in STATUSES:
            raise _bad(f"signatures.{role}.status must be one of {', '.join(STATUSES)}", f"signatures.{role}.status")
        if jws is not None and (not isinstance(jws, str) or not jws):
            raise _bad(f"signatures.{role}.jws must be a compact JWS or null", f"signatures.{role}.jws")
        if (jws is None) != (status == "unsigned") and status != "invalid":
            raise _bad(
                f"signatures.{role}: a {status} signature {'needs' if jws is None else 'has no'} jws",
                f"signatures.{role}.jws",
            )
        signatures[role] = HeldSignature(role, status, jws)
    credentials = []
    for i, raw in enumerate(_list(doc["credentials"], "credentials")):
        where = f"credentials[{i}]"
        entry = _object(raw, where)
        sha = entry.get("sha256")
        if not isinstance(sha, str) or not _HEX64.fullmatch(sha):
            raise _bad(f"{where}.sha256 must be 64 lowercase hex digits", f"{where}.sha256")
        types = entry.get("types") or []
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise _bad(f"{where}.types must be a list of strings", f"{where}.types")
        credentials.append(
            HeldCredential(
                sha,
                str(_text(entry, "holder", where)),
                _text(entry, "id", where, True),
                tuple(types),
                _text(entry, "issuer", where, True),
                _text(entry, "token", where, True),
            )
        )
    documents = _object(doc["didDocuments"], "didDocuments")
    for did, document in documents.items():
        _object(document, f"didDocuments[{did}]")
    transfers = []
    for i, raw in enumerate(_list(doc["transfers"], "transfers")):
        where = f"transfers[{i}]"
        entry = _object(raw, where)
        seal = entry.get("seal")
        if seal is not None:
            _object(seal, f"{where}.seal")
        transfers.append(
            HeldTransfer(
                str(_text(entry, "id", where)),
                str(entry.get("role")),
                _text(entry, "providerPid", where, True),
                _text(entry, "consumerPid", where, True),
                _text(entry, "state", where, True),
                _text(entry, "format", where, True),
                seal,
            )
        )
    subjects = _object(doc["subjects"], "subjects")
    for key in subjects:
        if not _HEX64.fullmatch(key):
            raise _bad("subjects are keyed by 64 lowercase hex digits", f"subjects[{key[:70]}]")
    log = _object(doc["log"], "log")
    stamps = []
    for i, text in enumerate(_list(log.get("timestamps"), "log.timestamps")):
        try:
            stamps.append(base64.b64decode(text, validate=True))
        except (binascii.Error, TypeError, ValueError):
            raise _bad("a time-stamp token is not base64 DER", f"log.timestamps[{i}]") from None
    return Bundle(
        exported_by=str(_text(doc, "exportedBy", "$")),
        exported_at=str(_text(doc, "exportedAt", "$")),
        agreement=agreement,
        negotiation=negotiation,
        signatures=signatures,
        credentials=tuple(credentials),
        did_documents=documents,
        transfers=tuple(transfers),
        subjects=subjects,
        log_node=str(_text(log, "node", "log")),
        proof=InclusionProof.from_json(log.get("proof")),
        checkpoint=str(_text(log, "checkpoint", "log")),
        timestamps=tuple(stamps),
        raw=doc,
    )
