"""What the data plane keeps per transfer (its flow) and per version of a repeatable source (its digest).

A flow exists on both sides: the provider records which pull token is current, which certificate it is bound to,
the seal it issued and when the data was delivered in full (after which the transfer serves no further pull);
the consumer records the data address it holds, the push destination token it issued, where pushed data went,
and the seal it verified and keeps as evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from connector.records.columns import from_json_column, iso, json_column, parse_iso


@dataclass(frozen=True)
class Flow:
    transfer_id: str  # our own transfer process id
    role: str  # provider | consumer
    kind: str  # pull | push
    updated_at: datetime
    epoch: int = 0  # how many times the flow was started or resumed
    token_id: str | None = None  # provider pull: jti of the one valid token; consumer push: SHA-256 of ours
    token_expires_at: datetime | None = None
    token_cert: str | None = None  # provider pull: x5t#S256 the current token is bound to (or was pinned to)
    address: Mapping[str, Any] | None = None  # consumer pull: the latest data address received
    sha256: str | None = None  # the digest sealed (provider) or received and verified (consumer)
    size: int | None = None
    seal: Mapping[str, Any] | None = None  # the seal issued (provider) or verified and kept (consumer)
    seal_verified_at: datetime | None = None
    seal_signer: str | None = None  # consumer: hex SHA-256 of the provider's signing certificate
    file: str | None = None  # consumer push: where the data was written
    bytes_sent: int = 0  # provider: bytes served or pushed, all requests together
    delivered_at: datetime | None = None  # provider pull: when the data was delivered in full (its one use)

    def to_row(self) -> dict[str, Any]:
        row = {f.name: getattr(self, f.name) for f in fields(self)}
        row.update(
            updated_at=iso(self.updated_at),
            token_expires_at=iso(self.token_expires_at),
            seal_verified_at=iso(self.seal_verified_at),
            delivered_at=iso(self.delivered_at),
            address=json_column(self.address),
            seal=json_column(self.seal),
        )
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Flow:
        data = dict(row)
        data.update(
            updated_at=parse_iso(row["updated_at"]),
            token_expires_at=parse_iso(row["token_expires_at"]),
            seal_verified_at=parse_iso(row["seal_verified_at"]),
            delivered_at=parse_iso(row["delivered_at"]),
            address=from_json_column(row["address"]),
            seal=from_json_column(row["seal"]),
        )
        return cls(**data)

    def to_api(self) -> dict[str, Any]:
        return {
            "transferId": self.transfer_id,
            "role": self.role,
            "kind": self.kind,
            "starts": self.epoch,
            "tokenExpiresAt": iso(self.token_expires_at),
            "sha256": self.sha256,
            "size": self.size,
            "seal": self.seal,
            "sealVerifiedAt": iso(self.seal_verified_at),
            "sealSigner": self.seal_signer,
            "file": self.file,
            "bytesSent": self.bytes_sent,
            "deliveredAt": iso(self.delivered_at),
            "updatedAt": iso(self.updated_at),
        }


@dataclass(frozen=True)
class KnownDigest:
    sha256: str
    size: int
    media_type: str
