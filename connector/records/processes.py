"""The processes the control plane runs, as values: negotiations, the agreements they conclude, transfers, each
process's history, the messages it still owes its peer (the outbox), and what it owes once a change commits.

Records are frozen: a step computes the next record with `dataclasses.replace` and the store writes it in the same
transaction as the history entry and any outgoing message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from connector.dsp.vocabulary import NegotiationState, Role, TransferState
from connector.records.columns import from_json_column, iso, json_column, parse_iso, utcnow


@dataclass(frozen=True)
class Negotiation:
    id: str  # our own process id: the provider pid when we provide, the consumer pid when we consume
    role: Role
    state: NegotiationState
    peer_id: str
    peer_address: str  # consumer: the provider's DSP base; provider: the consumer's callback address
    provider_pid: str | None = None
    consumer_pid: str | None = None
    dataset_id: str | None = None
    offer_id: str | None = None
    offer: Mapping[str, Any] | None = None  # the latest offer or request on the table
    requested: Mapping[str, Any] | None = None  # consumer: what we asked for (or accepted); the agreement must match
    agreement_id: str | None = None
    purpose: str | None = None
    pending: str | None = None  # the step our side owes next; None while waiting for the peer
    reason: str | None = None  # why it ended, or the last failure
    claims: Mapping[str, Any] | None = None  # summary of the peer's verified claims (types, issuers, hashes)
    deadline_at: datetime | None = None  # while we wait for the peer: when we give up (and tell the peer)
    check_at: datetime | None = None  # while we wait for the peer: when we next ask it for the process's state
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal

    def to_row(self) -> dict[str, Any]:
        row = {name: getattr(self, name) for name in _NEGOTIATION_FIELDS}
        row.update(
            role=str(self.role),
            state=str(self.state),
            offer=json_column(self.offer),
            requested=json_column(self.requested),
            claims=json_column(self.claims),
            deadline_at=iso(self.deadline_at),
            check_at=iso(self.check_at),
            created_at=iso(self.created_at),
            updated_at=iso(self.updated_at),
        )
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Negotiation:
        data = dict(row)
        data.update(
            role=_member(Role, row["role"]),
            state=_member(NegotiationState, row["state"]),
            offer=from_json_column(row["offer"]),
            requested=from_json_column(row["requested"]),
            claims=from_json_column(row["claims"]),
            deadline_at=parse_iso(row["deadline_at"]),
            check_at=parse_iso(row["check_at"]),
            created_at=parse_iso(row["created_at"]),
            updated_at=parse_iso(row["updated_at"]),
        )
        return cls(**data)

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": str(self.role),
            "state": str(self.state),
            "providerPid": self.provider_pid,
            "consumerPid": self.consumer_pid,
            "counterPartyId": self.peer_id,
            "counterPartyAddress": self.peer_address,
            "datasetId": self.dataset_id,
            "offerId": self.offer_id,
            "offer": self.offer,
            "requested": self.requested,
            "agreementId": self.agreement_id,
            "purpose": self.purpose,
            "pendingStep": self.pending,
            "reason": self.reason,
            "deadline": iso(self.deadline_at),
            "nextStateQuery": iso(self.check_at),
            "counterPartyClaims": self.claims,  # what was verified of the peer: its credentials, by whom, until when
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }


@dataclass(frozen=True)
class Agreement:
    id: str
    negotiation_id: str
    provider_id: str
    consumer_id: str
    dataset_id: str
    policy: Mapping[str, Any]  # the ODRL Agreement exactly as exchanged
    concluded_at: datetime
    finalized: bool = False
    provider_address: str | None = None  # provider's DSP base, where the consumer requests transfers
    created_at: datetime = field(default_factory=utcnow)

    def to_row(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "negotiation_id": self.negotiation_id,
            "provider_id": self.provider_id,
            "consumer_id": self.consumer_id,
            "dataset_id": self.dataset_id,
            "policy": json_column(dict(self.policy)),
            "concluded_at": iso(self.concluded_at),
            "finalized": int(self.finalized),
            "provider_address": self.provider_address,
            "created_at": iso(self.created_at),
        }

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Agreement:
        return cls(
            id=row["id"],
            negotiation_id=row["negotiation_id"],
            provider_id=row["provider_id"],
            consumer_id=row["consumer_id"],
            dataset_id=row["dataset_id"],
            policy=from_json_column(row["policy"]),
            concluded_at=parse_iso(row["concluded_at"]),
            finalized=bool(row["finalized"]),
            provider_address=row["provider_address"],
            created_at=parse_iso(row["created_at"]),
        )

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "negotiationId": self.negotiation_id,
            "providerId": self.provider_id,
            "consumerId": self.consumer_id,
            "datasetId": self.dataset_id,
            "policy": dict(self.policy),
            "concludedAt": iso(self.concluded_at),
            "finalized": self.finalized,
            "providerAddress": self.provider_address,
        }


@dataclass(frozen=True)
class Transfer:
    id: str
    role: Role
    state: TransferState
    peer_id: str
    peer_address: str
    agreement_id: str
    format: str
    provider_pid: str | None = None
    consumer_pid: str | None = None
    data_address: Mapping[str, Any] | None = None
    pending: str | None = None
    reason: str | None = None
    claims: Mapping[str, Any] | None = None
    deadline_at: datetime | None = None  # as for negotiations
    check_at: datetime | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    @property
    def is_terminal(self) -> bool:
        return self.state.is_terminal

    def to_row(self) -> dict[str, Any]:
        row = {name: getattr(self, name) for name in _TRANSFER_FIELDS}
        row.update(
            role=str(self.role),
            state=str(self.state),
            data_address=json_column(self.data_address),
            claims=json_column(self.claims),
            deadline_at=iso(self.deadline_at),
            check_at=iso(self.check_at),
            created_at=iso(self.created_at),
            updated_at=iso(self.updated_at),
        )
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Transfer:
        data = dict(row)
        data.update(
            role=_member(Role, row["role"]),
            state=_member(TransferState, row["state"]),
            data_address=from_json_column(row["data_address"]),
            claims=from_json_column(row["claims"]),
            deadline_at=parse_iso(row["deadline_at"]),
            check_at=parse_iso(row["check_at"]),
            created_at=parse_iso(row["created_at"]),
            updated_at=parse_iso(row["updated_at"]),
        )
        return cls(**data)

    def to_api(self) -> dict[str, Any]:
        address = dict(self.data_address) if self.data_address else None
        if address and "endpointProperties" in address:  # tokens are not for display
            address["endpointProperties"] = [
                {**p, "value": "***"} if p.get("name") in ("authorization", "token") else p
                for p in address["endpointProperties"]
            ]
        return {
            "id": self.id,
            "role": str(self.role),
            "state": str(self.state),
            "providerPid": self.provider_pid,
            "consumerPid": self.consumer_pid,
            "counterPartyId": self.peer_id,
            "counterPartyAddress": self.peer_address,
            "agreementId": self.agreement_id,
            "format": self.format,
            "dataAddress": address,
            "pendingStep": self.pending,
            "reason": self.reason,
            "deadline": iso(self.deadline_at),
            "nextStateQuery": iso(self.check_at),
            "counterPartyClaims": self.claims,
            "createdAt": iso(self.created_at),
            "updatedAt": iso(self.updated_at),
        }


_NEGOTIATION_FIELDS = tuple(f.name for f in fields(Negotiation))
_TRANSFER_FIELDS = tuple(f.name for f in fields(Transfer))


def _member(enum: Any, value: str) -> Any:
    """`enum(value)`, by the enum's own value table first (calling the class is the slow way to the same)."""
    member = enum._value2member_map_.get(value)
    return member if member is not None else enum(value)


@dataclass(frozen=True)
class HistoryEntry:
    process_id: str
    seq: int
    kind: str
    at: datetime
    from_state: str | None
    to_state: str
    cause: str
    reason: str | None = None
    detail: Mapping[str, Any] | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> HistoryEntry:
        return cls(
            process_id=row["process_id"],
            seq=row["seq"],
            kind=row["kind"],
            at=parse_iso(row["at"]),
            from_state=row["from_state"],
            to_state=row["to_state"],
            cause=row["cause"],
            reason=row["reason"],
            detail=from_json_column(row["detail"]),
        )

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "seq": self.seq,
            "at": iso(self.at),
            "from": self.from_state,
            "to": self.to_state,
            "cause": self.cause,
            "reason": self.reason,
        }
        if self.detail:
            out["detail"] = self.detail
        return out


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    process_kind: str
    process_id: str
    peer_id: str
    url: str
    message_type: str
    body_json: str  # the message as queued, and as it goes on the wire
    deadline_at: datetime
    not_before: datetime | None = None
    attempts: int = 0
    last_error: str | None = None

    @property
    def body(self) -> Mapping[str, Any]:
        return from_json_column(self.body_json)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> OutboxEntry:
        return cls(
            id=row["id"],
            process_kind=row["process_kind"],
            process_id=row["process_id"],
            peer_id=row["peer_id"],
            url=row["url"],
            message_type=row["message_type"],
            body_json=row["body"],
            deadline_at=parse_iso(row["deadline_at"]),
            not_before=parse_iso(row["not_before"]),
            attempts=row["attempts"],
            last_error=row["last_error"],
        )
