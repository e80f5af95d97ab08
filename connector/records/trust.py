"""What the trust edge keeps: copies of verified trust lists, the node's own credentials, and a record of every
verification of a peer's request."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class KeptList:
    """The last verified copy of a federation's trust list, per trust anchor (read when the issuer is down)."""

    anchor_sha256: str
    federation_id: str
    federation_name: str
    sequence: int
    valid_from: str
    valid_until: str
    sha256: str
    jws: str
    source: str
    stored_at: str

    def to_row(self) -> dict[str, Any]:
        return {
            "anchor_sha256": self.anchor_sha256,
            "federation_id": self.federation_id,
            "federation_name": self.federation_name,
            "sequence": self.sequence,
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
            "sha256": self.sha256,
            "jws": self.jws,
            "source": self.source,
            "stored_at": self.stored_at,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> KeptList:
        return cls(
            anchor_sha256=row["anchor_sha256"],
            federation_id=row["federation_id"],
            federation_name=row["federation_name"],
            sequence=row["sequence"],
            valid_from=row["valid_from"],
            valid_until=row["valid_until"],
            sha256=row["sha256"],
            jws=row["jws"],
            source=row["source"],
            stored_at=row["stored_at"],
        )


@dataclass(frozen=True)
class OwnCredential:
    id: str
    types: tuple[str, ...]
    issuer: str
    valid_until: str | None
    sha256: str
    token: str
    source: str
    loaded_at: str

    def to_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "types": json.dumps(list(self.types)),
            "issuer": self.issuer,
            "valid_until": self.valid_until,
            "sha256": self.sha256,
            "token": self.token,
            "source": self.source,
            "loaded_at": self.loaded_at,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> OwnCredential:
        return cls(
            id=row["id"],
            types=tuple(json.loads(row["types"])),
            issuer=row["issuer"],
            valid_until=row["valid_until"],
            sha256=row["sha256"],
            token=row["token"],
            source=row["source"],
            loaded_at=row["loaded_at"],
        )

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "types": list(self.types),
            "issuer": self.issuer,
            "validUntil": self.valid_until,
            "sha256": self.sha256,
            "source": self.source,
            "loadedAt": self.loaded_at,
        }


@dataclass(frozen=True)
class VerificationRecord:
    at: str
    peer: str | None
    outcome: str  # verified | refused
    code: str | None
    reason: str | None
    step: str | None
    method: str | None
    path: str | None
    request_id: str | None
    detail: Mapping[str, Any]
    id: int | None = None  # assigned by the store

    def to_row(self) -> dict[str, Any]:
        """The row to insert (without `id`, which the store assigns)."""
        return {
            "at": self.at,
            "peer": self.peer,
            "outcome": self.outcome,
            "code": self.code,
            "reason": self.reason,
            "step": self.step,
            "method": self.method,
            "path": self.path,
            "request_id": self.request_id,
            "detail": json.dumps(dict(self.detail), default=str, sort_keys=True),
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> VerificationRecord:
        return cls(
            at=row["at"],
            peer=row["peer"],
            outcome=row["outcome"],
            code=row["code"],
            reason=row["reason"],
            step=row["step"],
            method=row["method"],
            path=row["path"],
            request_id=row["request_id"],
            detail=json.loads(row["detail"]),
            id=row["id"],
        )

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "peer": self.peer,
            "outcome": self.outcome,
            "code": self.code,
            "reason": self.reason,
            "step": self.step,
            "method": self.method,
            "path": self.path,
            "requestId": self.request_id,
            "detail": dict(self.detail),
        }
