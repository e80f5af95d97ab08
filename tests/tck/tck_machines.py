"""The TCK's own bookkeeping of a process: its state machines and the view it keeps of each process.

These are deliberately *not* the project's DSP state machines: the harness must judge the node with the TCK's
rules (TCK.md, notes (1)), which are looser in places (the TCK does not care who sends what, and it lets
OFFERED move to OFFERED) and which the node must still satisfy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Side(StrEnum):
    """Which role the TCK plays in a process (the node under test plays the other one)."""

    CONSUMER = "consumer"
    PROVIDER = "provider"


class NegotiationState(StrEnum):
    INITIALIZED = "INITIALIZED"  # the TCK's own pre-request state; never on the wire
    REQUESTED = "REQUESTED"
    OFFERED = "OFFERED"
    ACCEPTED = "ACCEPTED"
    AGREED = "AGREED"
    VERIFIED = "VERIFIED"
    FINALIZED = "FINALIZED"
    TERMINATED = "TERMINATED"


class TransferState(StrEnum):
    INITIALIZED = "INITIALIZED"
    REQUESTED = "REQUESTED"
    STARTED = "STARTED"
    SUSPENDED = "SUSPENDED"
    COMPLETED = "COMPLETED"
    TERMINATED = "TERMINATED"


N = NegotiationState
T = TransferState

NEGOTIATION_MOVES: Mapping[NegotiationState, frozenset[NegotiationState]] = {
    N.INITIALIZED: frozenset({N.REQUESTED, N.OFFERED, N.TERMINATED}),
    N.REQUESTED: frozenset({N.OFFERED, N.AGREED, N.TERMINATED}),
    N.OFFERED: frozenset({N.REQUESTED, N.OFFERED, N.ACCEPTED, N.TERMINATED}),
    N.ACCEPTED: frozenset({N.AGREED, N.TERMINATED}),
    N.AGREED: frozenset({N.VERIFIED, N.TERMINATED}),
    N.VERIFIED: frozenset({N.FINALIZED, N.TERMINATED}),
    N.FINALIZED: frozenset(),
    N.TERMINATED: frozenset(),
}

TRANSFER_MOVES: Mapping[TransferState, frozenset[TransferState]] = {
    T.INITIALIZED: frozenset({T.REQUESTED}),
    T.REQUESTED: frozenset({T.STARTED, T.TERMINATED}),
    T.SUSPENDED: frozenset({T.STARTED, T.TERMINATED}),
    T.STARTED: frozenset({T.SUSPENDED, T.COMPLETED, T.TERMINATED}),
    T.COMPLETED: frozenset(),
    T.TERMINATED: frozenset(),
}


class IllegalTransition(AssertionError):
    """The TCK's machine refuses a move (the real TCK throws IllegalStateException)."""


def check_negotiation_move(current: NegotiationState, new: NegotiationState) -> None:
    if new not in NEGOTIATION_MOVES[current]:
        raise IllegalTransition(_refusal("negotiation", current, new))


def check_transfer_move(current: TransferState, new: TransferState) -> None:
    if new not in TRANSFER_MOVES[current]:
        raise IllegalTransition(_refusal("transfer", current, new))


def _refusal(process: str, current: StrEnum, new: StrEnum) -> str:
    if current in ("FINALIZED", "COMPLETED", "TERMINATED"):
        return f"{current} is a final state of the TCK's {process}; it cannot move to {new}"
    return f"the TCK's {process} cannot move from {current} to {new}"


@dataclass
class NegotiationView:
    """What the TCK knows of one negotiation. `own_pid` is the TCK's pid; `cut_pid` the node's."""

    side: Side
    own_pid: str
    dataset_id: str
    offer_id: str
    cut_pid: str | None = None
    callback_address: str | None = None  # where the TCK sends messages for this process (the node's base)
    state: NegotiationState = NegotiationState.INITIALIZED
    history: list[NegotiationState] = field(default_factory=list)

    @property
    def provider_pid(self) -> str | None:
        return self.own_pid if self.side is Side.PROVIDER else self.cut_pid

    @property
    def consumer_pid(self) -> str | None:
        return self.own_pid if self.side is Side.CONSUMER else self.cut_pid

    def can_move(self, new: NegotiationState) -> bool:
        return new in NEGOTIATION_MOVES[self.state]

    def move(self, new: NegotiationState) -> None:
        check_negotiation_move(self.state, new)
        self.history.append(self.state)
        self.state = new


@dataclass
class TransferView:
    """What the TCK knows of one transfer process."""

    side: Side
    own_pid: str
    agreement_id: str
    format: str
    cut_pid: str | None = None
    callback_address: str | None = None
    state: TransferState = TransferState.INITIALIZED
    data_address: Mapping[str, object] | None = None
    history: list[TransferState] = field(default_factory=list)

    @property
    def provider_pid(self) -> str | None:
        return self.own_pid if self.side is Side.PROVIDER else self.cut_pid

    @property
    def consumer_pid(self) -> str | None:
        return self.own_pid if self.side is Side.CONSUMER else self.cut_pid

    def can_move(self, new: TransferState) -> bool:
        return new in TRANSFER_MOVES[self.state]

    def move(self, new: TransferState) -> None:
        check_transfer_move(self.state, new)
        self.history.append(self.state)
        self.state = new
