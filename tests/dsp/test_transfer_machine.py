"""The transfer process machine against an explicit expected table, the TCK scenarios, and properties."""

from __future__ import annotations

import pytest
from dsp.machines import C, Expectations, P, Step
from hypothesis import given
from hypothesis import strategies as st

from connector.dsp import transfer_machine as machine
from connector.dsp.process_machine import Transition, TransitionRefusal
from connector.dsp.vocabulary import Role, TransferMessage, TransferState

REQ = "TransferRequestMessage"
STA = "TransferStartMessage"
SUS = "TransferSuspensionMessage"
COM = "TransferCompletionMessage"
TER = "TransferTerminationMessage"

# Written out independently of the implementation, from the spec's state machine figure:
# (sender, state before, message) -> state after. Everything not listed must be refused.
EXPECTED: dict[tuple[str, str | None, str], str] = {
    (C, None, REQ): "REQUESTED",
    (P, "REQUESTED", STA): "STARTED",
    (P, "REQUESTED", TER): "TERMINATED",
    (C, "REQUESTED", TER): "TERMINATED",
    (P, "STARTED", COM): "COMPLETED",
    (C, "STARTED", COM): "COMPLETED",
    (P, "STARTED", SUS): "SUSPENDED",
    (C, "STARTED", SUS): "SUSPENDED",
    (P, "STARTED", TER): "TERMINATED",
    (C, "STARTED", TER): "TERMINATED",
    (P, "SUSPENDED", STA): "STARTED",
    (C, "SUSPENDED", STA): "STARTED",
    (P, "SUSPENDED", TER): "TERMINATED",
    (C, "SUSPENDED", TER): "TERMINATED",
}
TRANSFER = Expectations(
    machine,
    TransferMessage,
    TransferState,
    codes="dsp.transfer",
    expected=EXPECTED,
    repeated_on_receipt={(C, "TERMINATED", TER), (P, "TERMINATED", TER)},
    never_sent_by={C: set(), P: {REQ}},
    final={"COMPLETED", "TERMINATED"},
)


@pytest.mark.parametrize(("role", "direction", "state", "message"), TRANSFER.cases())
def test_every_role_state_and_message(role: str, direction: str, state: str | None, message: str) -> None:
    TRANSFER.check_outcome(role, direction, state, message)


def test_the_table_covers_every_state_for_both_roles() -> None:
    TRANSFER.check_table_covers_every_state()


def test_completion_while_suspended_is_explained() -> None:
    outcome = machine.receive(Role.PROVIDER, TransferState.SUSPENDED, COM)
    assert isinstance(outcome, TransitionRefusal)
    assert outcome.problem.reason == (
        "a TransferCompletionMessage from the consumer is not allowed in state SUSPENDED; expected from the consumer: "
        "TransferStartMessage or TransferTerminationMessage"
    )


def test_a_provider_cannot_open_a_transfer() -> None:
    outcome = machine.receive(Role.CONSUMER, None, REQ)
    assert isinstance(outcome, TransitionRefusal)
    assert outcome.problem.code == "dsp.transfer.invalid_transition"
    assert "starts with a TransferRequestMessage from the consumer" in outcome.problem.reason


def test_a_consumer_resumes_but_does_not_start_a_transfer() -> None:
    assert isinstance(machine.send(Role.CONSUMER, TransferState.SUSPENDED, STA), Transition)
    refusal = machine.send(Role.CONSUMER, TransferState.REQUESTED, STA)
    assert isinstance(refusal, TransitionRefusal) and refusal.problem.code == "dsp.transfer.invalid_transition"


def test_final_states_are_reported() -> None:
    assert machine.MACHINE.is_final(TransferState.COMPLETED) and machine.MACHINE.is_final("TERMINATED")
    assert not machine.MACHINE.is_final(TransferState.SUSPENDED)


# --- the TCK scenarios, seen from the connector under test -----------------------------------------------------
PROVIDER_SCENARIOS: dict[str, list[Step]] = {
    "TP:01-01": [("in", REQ, "REQUESTED"), ("out", STA, "STARTED"), ("out", TER, "TERMINATED")],
    "TP:01-02": [("in", REQ, "REQUESTED"), ("out", STA, "STARTED"), ("out", COM, "COMPLETED")],
    "TP:01-03": [
        ("in", REQ, "REQUESTED"),
        ("out", STA, "STARTED"),
        ("out", SUS, "SUSPENDED"),
        ("out", TER, "TERMINATED"),
    ],
    "TP:01-04": [
        ("in", REQ, "REQUESTED"),
        ("out", STA, "STARTED"),
        ("out", SUS, "SUSPENDED"),
        ("out", STA, "STARTED"),
        ("out", COM, "COMPLETED"),
    ],
    "TP:01-05": [("in", REQ, "REQUESTED"), ("out", TER, "TERMINATED")],
    "TP:02-01": [("in", REQ, "REQUESTED"), ("out", STA, "STARTED"), ("in", TER, "TERMINATED")],
    "TP:02-02": [("in", REQ, "REQUESTED"), ("out", STA, "STARTED"), ("in", COM, "COMPLETED")],
    "TP:02-03": [
        ("in", REQ, "REQUESTED"),
        ("out", STA, "STARTED"),
        ("in", SUS, "SUSPENDED"),
        ("in", TER, "TERMINATED"),
    ],
    "TP:02-04": [
        ("in", REQ, "REQUESTED"),
        ("out", STA, "STARTED"),
        ("in", SUS, "SUSPENDED"),
        ("in", STA, "STARTED"),
        ("in", COM, "COMPLETED"),
    ],
    "TP:02-05": [("in", REQ, "REQUESTED"), ("in", TER, "TERMINATED")],
    "TP:03-01": [("in", REQ, "REQUESTED"), ("in", COM, None)],
    "TP:03-02": [("in", REQ, "REQUESTED"), ("in", SUS, None)],
    "TP:03-03": [("in", REQ, "REQUESTED"), ("out", STA, "STARTED"), ("in", SUS, "SUSPENDED"), ("in", COM, None)],
    "TP:03-04": [("in", REQ, "REQUESTED"), ("out", STA, "STARTED"), ("in", TER, "TERMINATED"), ("in", STA, None)],
    "TP:03-05": [("in", REQ, "REQUESTED"), ("out", STA, "STARTED"), ("in", TER, "TERMINATED"), ("in", SUS, None)],
    "TP:03-06": [("in", REQ, "REQUESTED"), ("out", STA, "STARTED"), ("in", TER, "TERMINATED"), ("in", COM, None)],
}
CONSUMER_SCENARIOS: dict[str, list[Step]] = {
    "TP_C:01-01": [("out", REQ, "REQUESTED"), ("in", STA, "STARTED"), ("in", TER, "TERMINATED")],
    "TP_C:01-02": [("out", REQ, "REQUESTED"), ("in", STA, "STARTED"), ("in", COM, "COMPLETED")],
    "TP_C:01-03": [
        ("out", REQ, "REQUESTED"),
        ("in", STA, "STARTED"),
        ("in", SUS, "SUSPENDED"),
        ("in", TER, "TERMINATED"),
    ],
    "TP_C:01-04": [
        ("out", REQ, "REQUESTED"),
        ("in", STA, "STARTED"),
        ("in", SUS, "SUSPENDED"),
        ("in", STA, "STARTED"),
        ("in", COM, "COMPLETED"),
    ],
    "TP_C:01-05": [("out", REQ, "REQUESTED"), ("in", TER, "TERMINATED")],
    "TP_C:02-01": [("out", REQ, "REQUESTED"), ("in", STA, "STARTED"), ("out", TER, "TERMINATED")],
    "TP_C:02-02": [("out", REQ, "REQUESTED"), ("in", STA, "STARTED"), ("out", COM, "COMPLETED")],
    "TP_C:02-03": [
        ("out", REQ, "REQUESTED"),
        ("in", STA, "STARTED"),
        ("out", SUS, "SUSPENDED"),
        ("out", TER, "TERMINATED"),
    ],
    "TP_C:02-04": [
        ("out", REQ, "REQUESTED"),
        ("in", STA, "STARTED"),
        ("out", SUS, "SUSPENDED"),
        ("out", STA, "STARTED"),
        ("out", COM, "COMPLETED"),
    ],
    "TP_C:02-05": [("out", REQ, "REQUESTED"), ("out", TER, "TERMINATED")],
    "TP_C:03-01": [("out", REQ, "REQUESTED"), ("in", COM, None)],
    "TP_C:03-02": [("out", REQ, "REQUESTED"), ("in", SUS, None)],
    "TP_C:03-03": [("out", REQ, "REQUESTED"), ("in", STA, "STARTED"), ("in", SUS, "SUSPENDED"), ("in", COM, None)],
    "TP_C:03-04": [("out", REQ, "REQUESTED"), ("in", STA, "STARTED"), ("in", TER, "TERMINATED"), ("in", STA, None)],
    "TP_C:03-05": [("out", REQ, "REQUESTED"), ("in", STA, "STARTED"), ("in", TER, "TERMINATED"), ("in", SUS, None)],
    "TP_C:03-06": [("out", REQ, "REQUESTED"), ("in", STA, "STARTED"), ("in", TER, "TERMINATED"), ("in", COM, None)],
}


@pytest.mark.parametrize("scenario", sorted(PROVIDER_SCENARIOS))
def test_tck_provider_scenario(scenario: str) -> None:
    TRANSFER.play(Role.PROVIDER, PROVIDER_SCENARIOS[scenario])


@pytest.mark.parametrize("scenario", sorted(CONSUMER_SCENARIOS))
def test_tck_consumer_scenario(scenario: str) -> None:
    TRANSFER.play(Role.CONSUMER, CONSUMER_SCENARIOS[scenario])


# --- properties ------------------------------------------------------------------------------------------------
@given(TRANSFER.random_moves())
def test_random_message_sequences_stay_in_the_spec_and_final_states_absorb(
    sequence: list[tuple[Role, str, TransferMessage]],
) -> None:
    TRANSFER.check_random_sequence(sequence)


@given(st.sampled_from(list(Role)), st.sampled_from(list(TransferState)), st.sampled_from(list(TransferMessage)))
def test_whatever_we_may_send_the_peer_accepts(role: Role, state: TransferState, message: TransferMessage) -> None:
    TRANSFER.check_send_agrees_with_receive(role, state, message)
