"""What the node keeps about usage duties: the data it received under each agreement (where it went, what it
was, what the agreement obliges, when it is due for deletion and how that ended), and the fulfilment receipts
it issued (as consumer) or received (as provider)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from connector.records.columns import from_json_column, iso, json_column, parse_iso

ISSUED = "issued"  # a receipt this node signed (as consumer)
RECEIVED = "received"  # a receipt the consumer sent this node (as provider), verified


@dataclass(frozen=True)
class ReceivedData:
    """The data of one transfer this node received as consumer."""

    transfer_id: str  # our transfer process id
    agreement_id: str
    provider_id: str
    dataset_id: str
    sha256: str  # of the data, as its provider sealed it
    size: int
    received_at: datetime
    file: str | None = None  # where it was written (absolute, resolved); None: no copy known to the node
    file_stamp: str | None = None  # the file as written ("size:mtime_ns:inode"), to know it is still the data
    duties: Mapping[str, Any] = field(default_factory=dict)  # the agreement's usage duties, as read then
    no_onward_transfer: bool = False
    delete_due_at: datetime | None = None
    deleted_at: datetime | None = None
    deletion: str | None = None  # how the deletion ended: deleted | absent

    def to_row(self) -> dict[str, Any]:
        return {
            "transfer_id": self.transfer_id,
            "agreement_id": self.agreement_id,
            "provider_id": self.provider_id,
            "dataset_id": self.dataset_id,
            "file": self.file,
            "file_stamp": self.file_stamp,
            "sha256": self.sha256,
            "size": self.size,
            "received_at": iso(self.received_at),
            "duties": json_column(dict(self.duties)),
            "no_onward_transfer": 1 if self.no_onward_transfer else 0,
            "delete_due_at": iso(self.delete_due_at),
            "deleted_at": iso(self.deleted_at),
            "deletion": self.deletion,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> ReceivedData:
        return cls(
            transfer_id=row["transfer_id"],
            agreement_id=row["agreement_id"],
            provider_id=row["provider_id"],
            dataset_id=row["dataset_id"],
            sha256=row["sha256"],
            size=int(row["size"]),
            received_at=parse_iso(row["received_at"]),
            file=row["file"],
            file_stamp=row["file_stamp"],
            duties=from_json_column(row["duties"]) or {},
            no_onward_transfer=bool(row["no_onward_transfer"]),
            delete_due_at=parse_iso(row["delete_due_at"]),
            deleted_at=parse_iso(row["deleted_at"]),
            deletion=row["deletion"],
        )

    def to_api(self) -> dict[str, Any]:
        return {
            "transferId": self.transfer_id,
            "agreementId": self.agreement_id,
            "providerId": self.provider_id,
            "datasetId": self.dataset_id,
            "file": self.file,
            "sha256": self.sha256,
            "size": self.size,
            "receivedAt": iso(self.received_at),
            "duties": dict(self.duties),
            "noOnwardTransfer": self.no_onward_transfer,
            "deleteDueAt": iso(self.delete_due_at),
            "deletedAt": iso(self.deleted_at),
            "deletion": self.deletion,
        }


@dataclass(frozen=True)
class DutyReceipt:
    """A fulfilment receipt (a compact JWS, evidence.receipts) as this node keeps it."""

    sha256: str  # of the JWS
    agreement_id: str
    transfer_id: str  # our own transfer process the receipt is about
    direction: str  # issued | received
    duty: str  # delete | inform
    at: datetime  # when the duty was fulfilled, as the receipt states
    jws: str
    recorded_at: datetime
    delivered_at: datetime | None = None  # issued: when sending it ended (None: not yet)
    delivery: str | None = None  # issued: "delivered", or why the provider refused it

    def to_row(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "agreement_id": self.agreement_id,
            "transfer_id": self.transfer_id,
            "direction": self.direction,
            "duty": self.duty,
            "at": iso(self.at),
            "jws": self.jws,
            "recorded_at": iso(self.recorded_at),
            "delivered_at": iso(self.delivered_at),
            "delivery": self.delivery,
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> DutyReceipt:
        return cls(
            sha256=row["sha256"],
            agreement_id=row["agreement_id"],
            transfer_id=row["transfer_id"],
            direction=row["direction"],
            duty=row["duty"],
            at=parse_iso(row["at"]),
            jws=row["jws"],
            recorded_at=parse_iso(row["recorded_at"]),
            delivered_at=parse_iso(row["delivered_at"]),
            delivery=row["delivery"],
        )
