"""What the evidence log keeps beside its chain records: signed checkpoints, their time-stamps, the signatures of
each agreement and the archives its older records were moved to; and a stored chain record as the record's JSON
object.

The chain records themselves are `connector.evidence.chain.Record` values (their bytes are fixed by the chain's
rules, not by a table).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connector.records import packing

# The status of a kept agreement signature.
SIGNED = "signed"  # our own signature
VERIFIED = "verified"  # the peer's signature, verified when it arrived
UNSIGNED = "unsigned"  # the peer sent none
INVALID = "invalid"  # the peer sent one that did not verify (kept as evidence of what was sent)


def row_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored chain record as the record's JSON object (not validated: a tampered row must still be reportable)."""
    data: Any = row["data"]
    packed = row["packed"] if "packed" in row.keys() else None
    if packed is not None and data == "":  # kept packed (connector.records.packing)
        try:
            data = packing.unpack(packed)
        except ValueError:
            data = bytes(packed).hex()  # no record's data: reported as altered
    try:
        data = json.loads(data)
    except (TypeError, ValueError):
        pass
    return {
        "seq": row["seq"],
        "at": row["at"],
        "kind": row["kind"],
        "process_id": row["process_id"],
        "peer": row["peer"],
        "subject_sha256": row["subject_sha256"],
        "data": data,
        "prev": row["prev"],
        "hash": row["hash"],
    }


@dataclass(frozen=True)
class StoredCheckpoint:
    id: int
    count: int
    head: str
    at: str
    jws: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StoredCheckpoint:
        return cls(int(row["id"]), int(row["count"]), str(row["head"]), str(row["at"]), str(row["jws"]))


@dataclass(frozen=True)
class StoredTimestamp:
    checkpoint_id: int
    gen_time: str
    tsa: str
    serial: str
    token: bytes

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StoredTimestamp:
        return cls(
            int(row["checkpoint_id"]), str(row["gen_time"]), str(row["tsa"]), str(row["serial"]), bytes(row["token"])
        )


@dataclass(frozen=True)
class StoredSignature:
    agreement_id: str
    role: str  # provider | consumer: whose signature this is
    status: str
    signer: str
    jws: str | None
    code: str | None
    reason: str | None
    at: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StoredSignature:
        return cls(
            row["agreement_id"],
            row["role"],
            row["status"],
            row["signer"],
            row["jws"],
            row["code"],
            row["reason"],
            row["at"],
        )

    def to_api(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "status": self.status,
            "signer": self.signer,
            "jws": self.jws,
            "code": self.code,
            "reason": self.reason,
            "at": self.at,
        }


@dataclass(frozen=True)
class StoredArchive:
    """Records `first`..`last` (the last one hashing to `head`) moved to the archive `file` (its SHA-256 `sha256`)
    at `at`, up to the signed checkpoint `checkpoint_id`, which stays in the store; `jws` is the node's signature
    of the archive's manifest."""

    id: int
    first_seq: int
    last_seq: int
    head: str
    checkpoint_id: int
    file: str
    sha256: str
    at: str
    jws: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> StoredArchive:
        return cls(
            int(row["id"]),
            int(row["first_seq"]),
            int(row["last_seq"]),
            str(row["head"]),
            int(row["checkpoint_id"]),
            str(row["file"]),
            str(row["sha256"]),
            str(row["at"]),
            str(row["jws"]),
        )
