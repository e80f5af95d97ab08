"""The archive format, version 1: what each file holds, how a row is written as a JSON line, the manifest and its
signature.

An archive is a ZIP file::

    manifest.json              the manifest (RFC 8785 canonical JSON), below
    manifest.jws               a detached ES256 JWS over manifest.json's bytes, by the node's signing key
                               (header: typ "connector-archive+jws", kid a DID URL of the node, x5c its chain)
    assets.jsonl, ...          one JSON object per line (UTF-8, "\\n" after each), one file per PART below
    evidence/archives/FILE     each evidence archive the log's older records were moved to, as the node keeps it
                               (its SHA-256 in evidence/archives.jsonl)

Each line is a row of the node's store as a JSON object, by column name: text and numbers as they are stored,
times as ISO 8601 text, the columns named in the manifest's `json` list as the JSON they hold, those in its
`base64` list as base64 text. The bearer token of any data address is withheld (replaced by its SHA-256, as in
evidence: ``withheld:sha256:<hex>``). The evidence records are the hash-chained records exactly as
connector.evidence.chain defines them (each line is a record's canonical form), so the chain verifies from the
archive alone: from the first record when the node archived none, else from the head of the last evidence
archive, which the archive carries with the others. `counterparties.jsonl` is derived (who this node dealt with)
and is not restored.

The manifest::

    {"type": "ConnectorArchive", "version": 1, "node": DID, "createdAt": RFC 3339, "schemaVersion": N,
     "program": "connector X.Y.Z",
     "files": [{"path", "restores": table or null, "holds": what, "key": [columns], "json": [columns],
                "base64": [columns], "rows": n, "sha256": hex of the file}],
     "evidence": {"records": n, "head": hex, "checkpoints": n}}
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509

from connector import jsontext
from connector.canonical import canonical_bytes
from connector.errors import ConnectorError
from connector.evidence.certpath import uri_sans
from connector.evidence.errors import EvidenceError
from connector.evidence.rfc3339 import format_utc, parse_utc
from connector.evidence.secrets import withhold_secrets
from connector.evidence.signer import SigningIdentity, did_of_kid, verify_signed
from connector.jws import sign_detached

ARCHIVE_TYPE = "ConnectorArchive"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SIGNATURE = "manifest.jws"
TYP = "connector-archive+jws"
MAX_LINE = 64 * 1024 * 1024  # a line longer than this is not a row this program wrote
# The node's evidence archive files (connector evidence archive), each as it is on disk, under their own names.
ARCHIVED_FILES = "evidence/archives/"


@dataclass(frozen=True)
class Part:
    """One file of the archive: the rows of one table (or, with no table, derived rows that are not restored)."""

    path: str
    table: str | None
    key: tuple[str, ...]
    holds: str
    json: tuple[str, ...] = ()
    base64: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()  # JSON columns that may hold a data address: its bearer token is withheld
    optional: bool = False  # an archive written before this file existed does not have it


# In an order that satisfies every reference between them, as they are restored.
PARTS: tuple[Part, ...] = (
    Part(
        "assets.jsonl",
        "assets",
        ("id",),
        "what the node offers: each asset and where its data comes from",
        json=("keywords", "formats", "source", "properties"),
    ),
    Part("policies.jsonl", "policies", ("id",), "usage policies (ODRL, as on the wire)", json=("policy",)),
    Part("offers.jsonl", "offers", ("id",), "offers: an asset under a contract policy and an access policy"),
    Part(
        "negotiations.jsonl",
        "negotiations",
        ("id",),
        "contract negotiations in either role, with the offer, the request and the peer's verified claims",
        json=("offer", "requested", "claims"),
    ),
    Part(
        "agreements.jsonl",
        "agreements",
        ("id",),
        "contract agreements: the ODRL Agreement exactly as signed",
        json=("policy",),
    ),
    Part(
        "transfers.jsonl",
        "transfers",
        ("id",),
        "transfer processes in either role",
        json=("data_address", "claims"),
        secrets=("data_address",),
    ),
    Part(
        "history.jsonl",
        "process_history",
        ("process_id", "seq"),
        "every step of every negotiation and transfer, with its cause and reason",
        json=("detail",),
    ),
    Part(
        "flows.jsonl",
        "data_flows",
        ("transfer_id",),
        "the data plane's record of each transfer: digests, seals issued or verified",
        json=("address", "seal"),
        secrets=("address",),
    ),
    Part(
        "received.jsonl",
        "received_data",
        ("transfer_id",),
        "data received as consumer: where it went, the duties of its agreement, its deletion",
        json=("duties",),
    ),
    Part(
        "receipts.jsonl",
        "duty_receipts",
        ("sha256",),
        "fulfilment receipts of usage duties, issued (as consumer) or received (as provider), as compact JWS",
    ),
    Part(
        "evidence/archives.jsonl",
        "evidence_archives",
        ("id",),
        "the evidence archives the log's older records were moved to (connector evidence archive): each one's "
        f"records, final hash, SHA-256 and signed manifest; the files themselves are under {ARCHIVED_FILES}",
        optional=True,
    ),
    Part(
        "evidence/records.jsonl",
        "evidence_records",
        ("seq",),
        "the hash-chained evidence log, in order: each line a record in its canonical form",
        json=("data",),
    ),
    Part(
        "evidence/subjects.jsonl",
        "evidence_subjects",
        ("sha256",),
        "the documents and messages the records hash (their RFC 8785 form hashes to sha256)",
        json=("body",),
    ),
    Part(
        "evidence/checkpoints.jsonl",
        "evidence_checkpoints",
        ("id",),
        "the log's signed checkpoints (compact JWS)",
    ),
    Part(
        "evidence/timestamps.jsonl",
        "evidence_timestamps",
        ("checkpoint_id", "tsa", "serial"),
        "RFC 3161 time-stamp tokens over checkpoints",
        base64=("token",),
    ),
    Part(
        "evidence/signatures.jsonl",
        "agreement_signatures",
        ("agreement_id", "role"),
        "the agreement signatures held, by role (compact JWS)",
    ),
    Part(
        "counterparties.jsonl",
        None,
        ("participant_id",),
        "the participants this node dealt with, their addresses and roles (derived; not restored)",
    ),
)
BY_PATH = {part.path: part for part in PARTS}


def _bad(reason: str, where: str | None = None) -> ConnectorError:
    return ConnectorError("archive.malformed", reason, where)


# --- rows as lines ---------------------------------------------------------------------------------------------


def row_line(part: Part, row: Mapping[str, Any]) -> bytes:
    """One row as its JSON line (canonical JSON: the same row always gives the same bytes)."""
    out: dict[str, Any] = {}
    for column, value in row.items():
        if value is not None and column in part.json:
            value = json.loads(value) if isinstance(value, str) else value
            if column in part.secrets:
                value = withhold_secrets(value)
        elif value is not None and column in part.base64:
            value = base64.b64encode(bytes(value)).decode("ascii")
        out[column] = value
    return canonical_bytes(out)


def line_row(part: Part, line: bytes, where: str) -> dict[str, Any]:
    """A JSON line back to the row as the store holds it (JSON columns as compact JSON text, base64 as bytes)."""
    try:
        value = json.loads(line)
    except (UnicodeDecodeError, ValueError):
        raise _bad(f"{where} is not JSON", where) from None
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise _bad(f"{where} is not a JSON object", where)
    for column in part.key:
        if value.get(column) is None:
            raise _bad(f"{where} has no {column}", where)
    row: dict[str, Any] = {}
    for column, item in value.items():
        if item is not None and column in part.json:
            item = json.dumps(item, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        elif item is not None and column in part.base64:
            try:
                item = base64.b64decode(item, validate=True)
            except (TypeError, ValueError):
                raise _bad(f"{where}: {column} is not base64", where) from None
        row[column] = item
    return row


# --- the manifest -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileEntry:
    path: str
    rows: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    node: str
    created_at: datetime
    schema_version: int
    program: str
    files: tuple[FileEntry, ...]
    records: int
    head: str
    checkpoints: int

    def to_json(self) -> dict[str, Any]:
        return {
            "type": ARCHIVE_TYPE,
            "version": FORMAT_VERSION,
            "node": self.node,
            "createdAt": format_utc(self.created_at),
            "schemaVersion": self.schema_version,
            "program": self.program,
            "files": [
                {
                    "path": f.path,
                    "restores": BY_PATH[f.path].table,
                    "holds": BY_PATH[f.path].holds,
                    "key": list(BY_PATH[f.path].key),
                    "json": list(BY_PATH[f.path].json),
                    "base64": list(BY_PATH[f.path].base64),
                    "rows": f.rows,
                    "sha256": f.sha256,
                }
                for f in self.files
            ],
            "evidence": {"records": self.records, "head": self.head, "checkpoints": self.checkpoints},
        }

    def to_bytes(self) -> bytes:
        return canonical_bytes(self.to_json())

    def rows(self, path: str) -> int:
        return next((f.rows for f in self.files if f.path == path), 0)

    @classmethod
    def from_bytes(cls, raw: bytes) -> Manifest:
        try:
            doc = jsontext.loads(raw)
        except ValueError:
            raise _bad("the manifest is not JSON", MANIFEST) from None
        if not isinstance(doc, dict) or doc.get("type") != ARCHIVE_TYPE:
            raise _bad(f"not a {ARCHIVE_TYPE} manifest", MANIFEST)
        if doc.get("version") != FORMAT_VERSION:
            raise ConnectorError(
                "archive.version",
                f"the archive is in format version {doc.get('version')}; this program reads version {FORMAT_VERSION}",
                MANIFEST,
            )
        try:
            files = []
            for entry in doc["files"]:
                path = entry["path"]
                if path not in BY_PATH:
                    raise _bad(f"the manifest lists an unknown file {path!r}", MANIFEST)
                rows, sha = entry["rows"], entry["sha256"]
                if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0 or not isinstance(sha, str):
                    raise _bad(f"the manifest's entry for {path} is malformed", MANIFEST)
                files.append(FileEntry(path, rows, sha))
            evidence = doc["evidence"]
            manifest = cls(
                node=str(doc["node"]),
                created_at=parse_utc(doc["createdAt"]),
                schema_version=int(doc["schemaVersion"]),
                program=str(doc["program"]),
                files=tuple(files),
                records=int(evidence["records"]),
                head=str(evidence["head"]),
                checkpoints=int(evidence["checkpoints"]),
            )
        except (KeyError, TypeError, ValueError, EvidenceError) as exc:
            raise _bad(f"the manifest is malformed ({exc})", MANIFEST) from None
        if len({f.path for f in manifest.files}) != len(manifest.files):
            raise _bad("the manifest lists a file twice", MANIFEST)
        if manifest.to_bytes() != raw:
            raise _bad("the manifest is not in its canonical form (RFC 8785)", MANIFEST)
        return manifest


def sign_manifest(manifest: Manifest, signer: SigningIdentity) -> str:
    if manifest.node != signer.did:
        raise ConnectorError("archive.signer", f"an archive of {manifest.node} cannot be signed by {signer.did}")
    return sign_detached(signer.key, manifest.to_bytes(), {"typ": TYP, "kid": signer.kid, "x5c": signer.x5c})


def verify_manifest(raw: bytes, jws: str, anchors: Sequence[x509.Certificate]) -> Manifest:
    """The manifest, once its signature verifies: by a certificate of the node it names, chaining to one of
    `anchors` at the time the archive was made."""
    manifest = Manifest.from_bytes(raw)
    try:
        header, _, path = verify_signed(
            jws.strip(),
            anchors,
            manifest.created_at,
            prefix="archive",
            typ=TYP,
            non_repudiation=False,
            detached_payload=raw,
        )
    except ConnectorError as exc:
        raise ConnectorError(
            exc.code if exc.code.startswith("archive.") else "archive.signature",
            f"the archive's signature does not verify: {exc.reason}",
            SIGNATURE,
        ) from None
    if manifest.node not in uri_sans(path.leaf) or did_of_kid(header.get("kid")) != manifest.node:
        raise ConnectorError("archive.signature", f"the archive is not signed by {manifest.node}", SIGNATURE)
    return manifest
