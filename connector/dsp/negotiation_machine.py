"""The contract negotiation state machine of DSP 2025-1, as one table.

Read TRANSITIONS against the figure "Contract Negotiation State Machine" of the specification
(Contract Negotiation Protocol, section State Machine); each row lists what one role may send in one state:

    [*] -> REQUESTED (C)              [*] -> OFFERED (P)
    REQUESTED -> OFFERED (P)          OFFERED -> REQUESTED (C)          the counter-offer loop
    REQUESTED -> AGREED (P)           OFFERED -> ACCEPTED (C)           ACCEPTED -> AGREED (P)
    AGREED -> VERIFIED (C)            VERIFIED -> FINALIZED (P)
    any non-final state -> TERMINATED (C or P)

Termination: the figure draws some termination arrows for one role only, but the message definition says it
"MAY be sent at any state" by either participant; we follow the text, so either side can always walk away (the
official TCK's own machine also allows TERMINATED after every non-final state).

FINALIZED and TERMINATED are final and refuse everything (TCK CN:03-01: a termination after FINALIZED is an
error), with one exception: a termination *received* for a negotiation that is already TERMINATED is acknowledged
again without change (`Transition.repeated`), because a peer whose first termination lost its ACK will retry, and
it cannot be told anything more useful. We never *send* into a final state.

Not listed, hence refused: REQUESTED -> REQUESTED (a second request while the provider has not answered, TCK
CN:03-04), OFFERED -> OFFERED, offers after ACCEPTED (CN_C:03-05), events from the wrong role (a consumer's
FINALIZED, a provider's ACCEPTED), verification before AGREED (CN:03-02, CN:03-03), FINALIZED before VERIFIED
(CN_C:03-01, 03-03, 03-04, 03-06), an agreement while OFFERED (CN_C:03-02).
"""

from __future__ import annotations

from collections.abc import Mapping

from connector.dsp.process_machine import ProcessMachine, Transition, TransitionRefusal
from connector.dsp.vocabulary import NegotiationMessage as M
from connector.dsp.vocabulary import NegotiationState as S
from connector.dsp.vocabulary import Role

__all__ = [
    "MACHINE",
    "REPEATABLE",
    "TRANSITIONS",
    "NegotiationTransition",
    "TransitionRefusal",
    "Transition",
    "receive",
    "send",
]

NegotiationTransition = Transition[S, M]

# sender -> state (None: no negotiation yet) -> {message: next state}
# fmt: off
TRANSITIONS: Mapping[Role, Mapping[S | None, Mapping[M, S]]] = {
    Role.CONSUMER: {
        None:         {M.REQUEST: S.REQUESTED},
        S.REQUESTED:  {M.TERMINATION: S.TERMINATED},
        S.OFFERED:    {M.REQUEST: S.REQUESTED, M.ACCEPTED: S.ACCEPTED, M.TERMINATION: S.TERMINATED},
        S.ACCEPTED:   {M.TERMINATION: S.TERMINATED},
        S.AGREED:     {M.VERIFICATION: S.VERIFIED, M.TERMINATION: S.TERMINATED},
        S.VERIFIED:   {M.TERMINATION: S.TERMINATED},
        S.FINALIZED:  {},
        S.TERMINATED: {},
    },
    Role.PROVIDER: {
        None:         {M.OFFER: S.OFFERED},
        S.REQUESTED:  {M.OFFER: S.OFFERED, M.AGREEMENT: S.AGREED, M.TERMINATION: S.TERMINATED},
        S.OFFERED:    {M.TERMINATION: S.TERMINATED},
        S.ACCEPTED:   {M.AGREEMENT: S.AGREED, M.TERMINATION: S.TERMINATED},
        S.AGREED:     {M.TERMINATION: S.TERMINATED},
        S.VERIFIED:   {M.FINALIZED: S.FINALIZED, M.TERMINATION: S.TERMINATED},
        S.FINALIZED:  {},
        S.TERMINATED: {},
    },
}
# fmt: on

# A retried termination of an already terminated negotiation is acknowledged, not refused.
REPEATABLE: Mapping[S, M] = {S.TERMINATED: M.TERMINATION}

MACHINE: ProcessMachine[S, M] = ProcessMachine(
    process="contract negotiation",
    code_prefix="dsp.negotiation",
    states=S,
    messages=M,
    table=TRANSITIONS,
    repeatable=REPEATABLE,
)


def receive(role: Role | str, state: S | str | None, message: M | str) -> Transition[S, M] | TransitionRefusal:
    """We, in `role`, received `message` (e.g. `msg.kind`) from the peer; `state` is None for a new negotiation."""
    return MACHINE.receive(role, state, message)


def send(role: Role | str, state: S | str | None, message: M | str) -> Transition[S, M] | TransitionRefusal:
    """We, in `role`, want to send `message`; `state` is None when it would start a negotiation."""
    return MACHINE.send(role, state, message)
