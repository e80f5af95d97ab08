"""What both DSP process machines (negotiation and transfer) are checked against, and the checks themselves.

Each test module writes out its machine's expectations independently of the implementation, from the spec's
state machine figure and message text (`Expectations`); the checks here hold either machine to them: every role,
state and message, the TCK scenarios seen from the node, and properties over random message sequences.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import ModuleType
from typing import Any

from hypothesis import strategies as st

from connector.dsp.process_machine import Transition, TransitionRefusal
from connector.dsp.vocabulary import Role

C, P = "consumer", "provider"
# One step of a TCK scenario, seen from the node: ("in" = it receives, "out" = it sends, message, the state after,
# or None for a refusal that must leave the state unchanged).
Step = tuple[str, str, str | None]
Decide = Callable[[Any, Any, Any], Transition[Any, Any] | TransitionRefusal]


@dataclass(frozen=True)
class Expectations:
    """A process machine as the spec describes it."""

    machine: ModuleType  # connector.dsp.negotiation_machine or transfer_machine: send, receive, TRANSITIONS
    messages: type[StrEnum]
    states: type[StrEnum]
    codes: str  # the prefix of its refusal codes: "dsp.negotiation"
    expected: Mapping[tuple[str, str | None, str], str]  # (sender, state before, message) -> state after
    repeated_on_receipt: Collection[tuple[str, str, str]]  # acknowledged without change
    never_sent_by: Mapping[str, Collection[str]]
    final: Collection[str]

    @property
    def all_states(self) -> list[str | None]:
        return [None, *[s.value for s in self.states]]

    def cases(self) -> list[tuple[str, str, str | None, str]]:
        """Every (role, direction, state, message): what `check_outcome` takes."""
        return list(itertools.product([C, P], ["receive", "send"], self.all_states, [m.value for m in self.messages]))

    def random_moves(self) -> st.SearchStrategy[list[tuple[Role, str, Any]]]:
        move = st.tuples(
            st.sampled_from(list(Role)), st.sampled_from(["receive", "send"]), st.sampled_from(list(self.messages))
        )
        return st.lists(move, max_size=30)

    def _decide(self, direction: str) -> Decide:
        """The machine's decision for a message the node sends ("send", "out") or receives ("receive", "in")."""
        return self.machine.send if direction in ("send", "out") else self.machine.receive

    def _refusal_code(self, sender: str, state: str | None, message: str) -> str:
        if state is None:
            return f"{self.codes}.invalid_transition"
        if state in self.final:
            return f"{self.codes}.final_state"
        if message in self.never_sent_by[sender]:
            return f"{self.codes}.wrong_sender"
        return f"{self.codes}.invalid_transition"

    def check_outcome(self, role: str, direction: str, state: str | None, message: str) -> None:
        """The machine's answer is the expected transition, the acknowledged repetition, or the refusal whose code
        and reason name the message (and the state, unless the message is one the sender never sends)."""
        sender = role if direction == "send" else Role(role).peer.value
        outcome = self._decide(direction)(role, state, message)
        key = (sender, state, message)
        if key in self.expected:
            assert outcome == Transition(
                Role(sender),
                self.messages(message),
                None if state is None else self.states(state),
                self.states(self.expected[key]),
            )
        elif direction == "receive" and key in self.repeated_on_receipt:
            assert isinstance(outcome, Transition) and outcome.repeated
            assert outcome.source == outcome.target == self.states["TERMINATED"]
        else:
            assert isinstance(outcome, TransitionRefusal)
            assert outcome.problem.code == self._refusal_code(sender, state, message)
            assert self.messages(message).label in outcome.problem.reason
            if state is not None:
                assert state in outcome.problem.reason or outcome.problem.code.endswith("wrong_sender")

    def check_table_covers_every_state(self) -> None:
        for role in Role:
            assert set(self.machine.TRANSITIONS[role]) == set(self.all_states)

    def play(self, role: Role, steps: Sequence[Step]) -> None:
        """A TCK scenario from the node's side: each step moves to its state, or is refused."""
        state: Any = None
        for number, (direction, message, after) in enumerate(steps):
            outcome = self._decide(direction)(role, state, message)
            if after is None:
                assert isinstance(outcome, TransitionRefusal), f"step {number}: {message} must be refused in {state}"
            else:
                assert isinstance(outcome, Transition), f"step {number}: {outcome}"
                assert outcome.target == self.states(after)
                state = outcome.target

    def check_random_sequence(self, sequence: Sequence[tuple[Role, str, Any]]) -> None:
        """Whatever the peers try, the process stays in the spec's states, and a final state lets nothing through
        but a received, repeated termination (a no-op)."""
        state: Any = None
        for role, direction, message in sequence:
            before = state
            outcome = self._decide(direction)(role, state, message)
            if isinstance(outcome, Transition):
                assert outcome.source == before and outcome.target in self.states
                assert outcome.sender == (role if direction == "send" else role.peer)
                if before is not None and before.is_terminal:
                    assert outcome.repeated and outcome.target == before and message is self.messages["TERMINATION"]
                state = outcome.target
            else:
                assert isinstance(outcome, TransitionRefusal) and outcome.problem.code.startswith(f"{self.codes}.")
        assert state is None or state in self.states

    def check_send_agrees_with_receive(self, role: Role, state: Any, message: Any) -> None:
        """Both sides run the same table, so our send and the peer's receive always agree."""
        ours = self.machine.send(role, state, message)
        theirs = self.machine.receive(role.peer, state, message)
        if isinstance(ours, Transition):
            assert ours == theirs
        elif not (isinstance(theirs, Transition) and theirs.repeated):
            assert isinstance(theirs, TransitionRefusal) and theirs.problem.code == ours.problem.code
