"""The transfer process state machine of DSP 2025-1, as one table.

Read TRANSITIONS against the figure "Transfer Process State Machine" of the specification (Transfer Process
Protocol, section State Machine):

    [*] -> REQUESTED (C)
    REQUESTED -> STARTED (P)          only the provider starts a transfer
    REQUESTED -> TERMINATED (C/P)
    STARTED -> COMPLETED | SUSPENDED | TERMINATED (C/P)
    SUSPENDED -> STARTED (C/P)        either side resumes with a TransferStartMessage (TCK TP:02-04, TP_C:02-04)
    SUSPENDED -> TERMINATED (C/P)

COMPLETED and TERMINATED are final and refuse everything (TCK TP:03-04..06, TP_C:03-04..06), except that a
termination *received* for a transfer already TERMINATED is acknowledged again without change
(`Transition.repeated`): a peer whose first termination lost its ACK retries. We never *send* into a final state.
Not listed, hence refused: completion or suspension while REQUESTED (TP:03-01, TP:03-02) and completion while
SUSPENDED (TP:03-03); a consumer's start while REQUESTED; suspending twice; starting while STARTED.
A repeated TransferRequestMessage for a known consumerPid is the store's business (the spec asks providers to
answer it idempotently), not a transition.
"""

from __future__ import annotations

from collections.abc import Mapping

from connector.dsp.process_machine import ProcessMachine, Transition, TransitionRefusal
from connector.dsp.vocabulary import Role
from connector.dsp.vocabulary import TransferMessage as M
from connector.dsp.vocabulary import TransferState as S

__all__ = [
    "MACHINE",
    "REPEATABLE",
    "TRANSITIONS",
    "TransitionRefusal",
    "Transition",
    "TransferTransition",
    "receive",
    "send",
]

TransferTransition = Transition[S, M]

# sender -> state (None: no transfer yet) -> {message: next state}
# fmt: off
TRANSITIONS: Mapping[Role, Mapping[S | None, Mapping[M, S]]] = {
    Role.CONSUMER: {
        None:         {M.REQUEST: S.REQUESTED},
        S.REQUESTED:  {M.TERMINATION: S.TERMINATED},
        S.STARTED:    {M.COMPLETION: S.COMPLETED, M.SUSPENSION: S.SUSPENDED, M.TERMINATION: S.TERMINATED},
        S.SUSPENDED:  {M.START: S.STARTED, M.TERMINATION: S.TERMINATED},
        S.COMPLETED:  {},
        S.TERMINATED: {},
    },
    Role.PROVIDER: {
        None:         {},
        S.REQUESTED:  {M.START: S.STARTED, M.TERMINATION: S.TERMINATED},
        S.STARTED:    {M.COMPLETION: S.COMPLETED, M.SUSPENSION: S.SUSPENDED, M.TERMINATION: S.TERMINATED},
        S.SUSPENDED:  {M.START: S.STARTED, M.TERMINATION: S.TERMINATED},
        S.COMPLETED:  {},
        S.TERMINATED: {},
    },
}
# fmt: on

# A retried termination of an already terminated transfer is acknowledged, not refused.
REPEATABLE: Mapping[S, M] = {S.TERMINATED: M.TERMINATION}

MACHINE: ProcessMachine[S, M] = ProcessMachine(
    process="transfer process",
    code_prefix="dsp.transfer",
    states=S,
    messages=M,
    table=TRANSITIONS,
    repeatable=REPEATABLE,
)


def receive(role: Role | str, state: S | str | None, message: M | str) -> Transition[S, M] | TransitionRefusal:
    """We, in `role`, received `message` (e.g. `msg.kind`) from the peer; `state` is None for a new transfer."""
    return MACHINE.receive(role, state, message)


def send(role: Role | str, state: S | str | None, message: M | str) -> Transition[S, M] | TransitionRefusal:
    """We, in `role`, want to send `message`; `state` is None when it would start a transfer."""
    return MACHINE.send(role, state, message)
