"""The decision procedure shared by the negotiation and the transfer state machines.

Each machine is a plain table, sender role -> current state -> {message kind: next state}, with `None` standing
for "no process yet" (the row of initial messages). Everything the table does not list is refused. Deciding is
pure: no I/O, no clock, the caller persists the outcome and does the talking.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

from connector.dsp.vocabulary import Role
from connector.errors import Problem

S = TypeVar("S", bound=StrEnum)
K = TypeVar("K", bound=StrEnum)


@dataclass(frozen=True)
class Transition(Generic[S, K]):
    """An allowed move: `message` from `sender` takes the process from `source` (None: new) to `target`."""

    sender: Role
    message: K
    source: S | None
    target: S
    # True when a final state is re-acknowledged (a retried termination): accept, change nothing.
    repeated: bool = False

    @property
    def creates_process(self) -> bool:
        return self.source is None


@dataclass(frozen=True)
class TransitionRefusal:
    """A move the protocol forbids; `problem.reason` is the sentence to put in the DSP error body."""

    problem: Problem


@dataclass(frozen=True)
class ProcessMachine(Generic[S, K]):
    process: str  # "contract negotiation", "transfer process": used in reasons
    code_prefix: str  # "dsp.negotiation", "dsp.transfer"
    states: type[S]
    messages: type[K]
    table: Mapping[Role, Mapping[S | None, Mapping[K, S]]]
    # Final state -> the message a peer may repeat there without effect.
    repeatable: Mapping[S, K] = field(default_factory=dict)

    def is_final(self, state: S | str) -> bool:
        current = self.states(state)
        return all(not self.table[role].get(current) for role in Role)

    def allowed(self, sender: Role | str, state: S | str | None) -> tuple[K, ...]:
        """The message kinds `sender` may send in `state` (None: to start a process)."""
        return tuple(self.table[Role(sender)].get(self._state(state), {}))

    def receive(
        self, role: Role | str, state: S | str | None, message: K | str
    ) -> Transition[S, K] | TransitionRefusal:
        """We (in `role`) received `message` from the peer while the process is in `state`."""
        return self._decide(Role(role), Role(role).peer, self._state(state), self.messages(message), "received")

    def send(self, role: Role | str, state: S | str | None, message: K | str) -> Transition[S, K] | TransitionRefusal:
        """We (in `role`) want to send `message` while the process is in `state`."""
        return self._decide(Role(role), Role(role), self._state(state), self.messages(message), "sent")

    def _state(self, state: S | str | None) -> S | None:
        return None if state is None else self.states(state)

    def _decide(
        self, role: Role, sender: Role, state: S | None, message: K, direction: str
    ) -> Transition[S, K] | TransitionRefusal:
        row = self.table[sender].get(state, {})
        if message in row:
            return Transition(sender, message, state, row[message])
        details: dict[str, object] = {
            "role": role.value,
            "sender": sender.value,
            "state": None if state is None else state.value,
            "message": message.value,
            "direction": direction,
            "allowed": [kind.value for kind in row],
        }
        if state is None:
            starters = " or ".join(
                f"a {_label(kind)} from the {starter}" for starter in Role for kind in self.table[starter].get(None, {})
            )
            return self._refuse(
                "invalid_transition",
                f"a {_label(message)} from the {sender} cannot start a {self.process}; one starts with {starters}",
                details,
            )
        if self.is_final(state):
            if direction == "received" and self.repeatable.get(state) == message:
                return Transition(sender, message, state, state, repeated=True)
            return self._refuse(
                "final_state",
                f"the {self.process} is {state.value}, a final state: no {_label(message)} is accepted any more",
                details,
            )
        if not any(message in self.table[sender].get(s, {}) for s in [None, *self.states]):
            return self._refuse(
                "wrong_sender",
                f"a {_label(message)} is sent only by the {sender.peer}, never by the {sender}",
                details,
            )
        expected = _alternatives([_label(kind) for kind in row]) if row else "nothing"
        return self._refuse(
            "invalid_transition",
            f"a {_label(message)} from the {sender} is not allowed in state {state.value}; "
            f"expected from the {sender}: {expected}",
            details,
        )

    def _refuse(self, code: str, reason: str, details: dict[str, object]) -> TransitionRefusal:
        return TransitionRefusal(Problem(f"{self.code_prefix}.{code}", reason, None, details))


def _label(kind: StrEnum) -> str:
    label = getattr(kind, "label", None)
    return label if isinstance(label, str) else kind.value


def _alternatives(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " or " + labels[-1]
