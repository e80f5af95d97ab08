"""The duty steps as values: what receiving data and deleting it decide, given what the shell read.

Like the negotiation and transfer steps, a step is a pure function: it returns the record to store, the receipts
to sign, the history entries of the transfer and the evidence to log, and writes nothing (service.py persists
the outcome in one transaction).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from connector.errors import ConnectorError
from connector.records.duties import ReceivedData
from connector.records.processes import Agreement, Transfer

if TYPE_CHECKING:  # the policy engine and receipts: with the first agreement's duties read
    from connector.evidence.receipts import ReceiptClaims
    from connector.policy.duties import UsageDuties

RECEIVED = "duty.received"  # data received under an agreement with duties (what, where, when due)
FULFILLED = "duty.fulfilled"  # the consumer fulfilled a duty: the receipt it signed is the subject
RECEIPT = "duty.receipt"  # the provider verified a receipt the consumer sent: the receipt is the subject
DELIVERED = "duty.delivered"  # the provider acknowledged (or refused) a receipt sent to it


@dataclass(frozen=True)
class Note:
    """A history entry of the transfer (no state change)."""

    cause: str
    why: str | None = None
    detail: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Logged:
    """An evidence record about the transfer."""

    kind: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class DutyOutcome:
    received: ReceivedData
    receipts: tuple[ReceiptClaims, ...] = ()
    notes: tuple[Note, ...] = ()
    evidence: tuple[Logged, ...] = ()


def duties_of(agreement: Agreement) -> tuple[UsageDuties, datetime]:
    """The agreement's usage duties and the time they count from (the agreement's signed timestamp)."""
    from connector.policy.engine import UsageDuties, parse_policy, usage_duties

    try:
        policy = parse_policy(agreement.policy)
    except ConnectorError:
        return UsageDuties(), agreement.concluded_at
    return usage_duties(policy), policy.timestamp or agreement.concluded_at


def _claims(
    received: ReceivedData, transfer: Transfer, consumer: str, duty: str, outcome: str, at: datetime
) -> ReceiptClaims:
    from connector.evidence.receipts import ReceiptClaims

    return ReceiptClaims(
        duty=duty,
        outcome=outcome,
        agreement_id=received.agreement_id,
        dataset_id=received.dataset_id,
        provider=received.provider_id,
        consumer=consumer,
        provider_pid=transfer.provider_pid or "",
        consumer_pid=transfer.consumer_pid or transfer.id,
        sha256=received.sha256,
        size=received.size,
        at=at,
        due=received.delete_due_at if duty == "delete" else None,
    )


def on_received(
    transfer: Transfer,
    agreement: Agreement,
    sha256: str,
    size: int,
    file: str | None,
    stamp: str | None,
    consumer: str,
    now: datetime,
) -> DutyOutcome:
    """The data of `transfer` was received (its seal verified) and written to `file`: keep where it went,
    schedule its deletion when one is owed, and inform the provider of this use when that is owed."""
    duties, agreed_at = duties_of(agreement)
    due = duties.delete_due(agreed_at)
    received = ReceivedData(
        transfer_id=transfer.id,
        agreement_id=agreement.id,
        provider_id=agreement.provider_id,
        dataset_id=agreement.dataset_id,
        sha256=sha256,
        size=size,
        received_at=now,
        file=file,
        file_stamp=stamp,
        duties=duties.to_json(agreed_at),
        no_onward_transfer=duties.no_onward_transfer,
        delete_due_at=due,
    )
    owed = duties.describe()
    notes = [Note("data received", file or "no copy of it is known to this node", {"sha256": sha256, "size": size})]
    evidence: list[Logged] = []
    if owed:
        notes.append(Note("duties owed", "; ".join(owed), received.duties))
        evidence.append(Logged(RECEIVED, {"file": file, "sha256": sha256, "size": size, "duties": received.duties}))
    receipts = (_claims(received, transfer, consumer, "inform", "used", now),) if duties.inform else ()
    return DutyOutcome(received, receipts, tuple(notes), tuple(evidence))


def deletion(received: ReceivedData, transfer: Transfer, outcome: str, consumer: str, now: datetime) -> DutyOutcome:
    """The deletion owed for `received` was carried out: `outcome` is ``deleted`` (the file was removed) or
    ``absent`` (nothing of the data was left at its place: removed or replaced before, or never known)."""
    done = replace(received, deleted_at=now, deletion=outcome)
    late = received.delete_due_at is not None and now > received.delete_due_at
    why = {
        "deleted": f"the data at {received.file} was deleted",
        "absent": f"nothing of the data was left to delete at {received.file or 'an unknown place'}",
    }[outcome]
    if late:
        why += f" (after its deadline {received.delete_due_at})"
    return DutyOutcome(
        done,
        (_claims(done, transfer, consumer, "delete", outcome, now),),
        (Note("duty fulfilled: delete", why, {"outcome": outcome, "due": str(received.delete_due_at)}),),
    )
