"""What a negotiation or transfer step decided, as a value: the shell (apply.py) persists it in one transaction.

A step never writes: it returns the process as it is to be stored, the history entries and evidence records to
append, the messages to queue for the peer, and what else follows (an agreement row, a data-plane call, the
answer to the peer's request). The state change evidence of a transition is not listed: it follows from the
history entry that changes the state, and is written with it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.control.pending import PendingStep
from connector.records.processes import Agreement, Negotiation, Transfer

Process = Negotiation | Transfer


@dataclass(frozen=True)
class Reply:
    """The answer to a peer's protocol request: HTTP status and DSP body; `process_id` names the process the
    request was about when it was ours to answer for (not for a refusal)."""

    status: int
    body: dict[str, Any]
    process_id: str | None = None


@dataclass(frozen=True)
class HistoryNote:
    """One entry of the process's history: a transition when the states differ (`from_state` None: created)."""

    cause: str
    from_state: str | None
    to_state: str
    why: str | None = None
    detail: Mapping[str, Any] | None = None

    @property
    def changes_state(self) -> bool:
        return self.from_state is not None and self.from_state != self.to_state


@dataclass(frozen=True)
class EvidenceNote:
    """One evidence record about the process (its kind as the evidence log names it)."""

    kind: str
    subject: Any = None
    data: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class SignAgreement:
    """Provider: the agreement the queued message carries is signed (by the signer, when it is queued)."""

    agreement: Mapping[str, Any]


@dataclass(frozen=True)
class Countersign:
    """Consumer: the verification carries our countersignature of the provider's verified signature."""

    agreement: Agreement


@dataclass(frozen=True)
class Outgoing:
    """A message queued for the peer (its body complete, with its message `@id`, but for a signature)."""

    url: str
    message_type: str
    body: Mapping[str, Any]
    signing: SignAgreement | Countersign | None = None


@dataclass(frozen=True)
class OpenFlow:
    """Provider: the data plane starts (`first`) or resumes the transfer's flow; the data address it gives, if
    any, becomes the transfer's and goes in the TransferStartMessage queued with it."""

    first: bool


@dataclass(frozen=True)
class Outcome:
    record: Process  # the process after the step
    at: datetime  # when the step ran: the time of its history entries and queued messages
    changed: bool = False  # whether `record` is to be stored (False: the step changed nothing in it)
    history: tuple[HistoryNote, ...] = ()
    evidence: tuple[EvidenceNote, ...] = ()  # written before the messages' and the transition's own
    messages: tuple[Outgoing, ...] = ()
    drop_queued: bool = False  # undelivered messages of the process are dropped first (it ends)
    agreement: Agreement | None = None  # a new agreement to store
    finalizes_agreement: bool = False  # the process's agreement is final from now on
    flow: OpenFlow | None = None
    reply: Reply | None = None

    @property
    def pending(self) -> PendingStep | None:
        """The step our side owes next, as stored with the record."""
        return None if self.record.pending is None else PendingStep.decode(self.record.pending)

    @property
    def state(self) -> str:
        return str(self.record.state)

    def with_data_address(self, address: Mapping[str, Any]) -> Outcome:
        """This outcome once the data plane gave the flow's data address (see OpenFlow)."""
        from connector.dsp.messages import DataAddress, TransferStartMessage

        node = DataAddress.from_node(dict(address)).to_node()
        messages = tuple(
            dataclasses.replace(m, body={**m.body, "dataAddress": node})
            if m.message_type == TransferStartMessage.TYPE
            else m
            for m in self.messages
        )
        assert isinstance(self.record, Transfer)
        record = dataclasses.replace(self.record, data_address=dict(address))
        return dataclasses.replace(self, record=record, messages=messages)
