"""What the trust edge keeps: copies of verified trust lists, the node's own credentials (configured files, or
issued to it over DCP), the credentials it asked issuers for, and a record of every verification of a peer's
request."""

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


ISSUED_SOURCE = "issued:"  # the source of a credential an issuer delivered: "issued:<issuer DID>"


@dataclass(frozen=True)
class CredentialRequest:
    """Credentials this node asked an issuer for (DCP), by its own request id (`holder_pid`)."""

    holder_pid: str
    issuer: str  # the issuer's DID
    issuer_url: str  # the issuer service's base URL
    types: tuple[str, ...]
    state: str  # REQUESTED (sent, not yet acknowledged), RECEIVED, ISSUED, REJECTED
    created_at: str
    updated_at: str
    issuer_pid: str | None = None
    status_url: str | None = None
    reason: str | None = None
    credentials: tuple[str, ...] = ()  # ids of the credentials stored from it

    def to_row(self) -> dict[str, Any]:
        return {
            "holder_pid": self.holder_pid,
            "issuer": self.issuer,
            "issuer_url": self.issuer_url,
            "issuer_pid": self.issuer_pid,
            "status_url": self.status_url,
            "types": json.dumps(list(self.types)),
            "state": self.state,
            "reason": self.reason,
            "credentials": json.dumps(list(self.credentials)),
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CredentialRequest:
        return cls(
            holder_pid=row["holder_pid"],
            issuer=row["issuer"],
            issuer_url=row["issuer_url"],
            types=tuple(json.loads(row["types"])),
            state=row["state"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            issuer_pid=row["issuer_pid"],
            status_url=row["status_url"],
            reason=row["reason"],
            credentials=tuple(json.loads(row["credentials"])),
        )

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.holder_pid,
            "issuer": self.issuer,
            "issuerUrl": self.issuer_url,
            "issuerPid": self.issuer_pid,
            "types": list(self.types),
            "state": self.state,
            "reason": self.reason,
            "credentials": list(self.credentials),
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
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
