"""The contract negotiation machine against an explicit expected table, the TCK scenarios, and properties."""

from __future__ import annotations

import pytest
from dsp.machines import C, Expectations, P, Step
from hypothesis import given
from hypothesis import strategies as st

from connector.dsp import negotiation_machine as machine
from connector.dsp.process_machine import TransitionRefusal
from connector.dsp.vocabulary import NegotiationMessage, NegotiationState, Role

REQ = "ContractRequestMessage"
OFF = "ContractOfferMessage"
AGR = "ContractAgreementMessage"
VER = "ContractAgreementVerificationMessage"
ACC = "ContractNegotiationEventMessage:ACCEPTED"
FIN = "ContractNegotiationEventMessage:FINALIZED"
TER = "ContractNegotiationTerminationMessage"

# Written out independently of the implementation, from the spec's state machine figure and message text:
# (sender, state before, message) -> state after. Everything not listed must be refused.
EXPECTED: dict[tuple[str, str | None, str], str] = {
    (C, None, REQ): "REQUESTED",
    (P, None, OFF): "OFFERED",
    (P, "REQUESTED", OFF): "OFFERED",
    (P, "REQUESTED", AGR): "AGREED",
    (P, "REQUESTED", TER): "TERMINATED",
    (C, "REQUESTED", TER): "TERMINATED",
    (C, "OFFERED", REQ): "REQUESTED",
    (C, "OFFERED", ACC): "ACCEPTED",
    (C, "OFFERED", TER): "TERMINATED",
    (P, "OFFERED", TER): "TERMINATED",
    (P, "ACCEPTED", AGR): "AGREED",
    (P, "ACCEPTED", TER): "TERMINATED",
    (C, "ACCEPTED", TER): "TERMINATED",
    (C, "AGREED", VER): "VERIFIED",
    (C, "AGREED", TER): "TERMINATED",
    (P, "AGREED", TER): "TERMINATED",
    (P, "VERIFIED", FIN): "FINALIZED",
    (P, "VERIFIED", TER): "TERMINATED",
    (C, "VERIFIED", TER): "TERMINATED",
}
NEGOTIATION = Expectations(
    machine,
    NegotiationMessage,
    NegotiationState,
    codes="dsp.negotiation",
    expected=EXPECTED,
    # A termination received for an already terminated negotiation is acknowledged without change.
    repeated_on_receipt={(C, "TERMINATED", TER), (P, "TERMINATED", TER)},
    never_sent_by={C: {OFF, AGR, FIN}, P: {REQ, ACC, VER}},
    final={"FINALIZED", "TERMINATED"},
)


@pytest.mark.parametrize(("role", "direction", "state", "message"), NEGOTIATION.cases())
def test_every_role_state_and_message(role: str, direction: str, state: str | None, message: str) -> None:
    NEGOTIATION.check_outcome(role, direction, state, message)


def test_the_table_covers_every_state_for_both_roles() -> None:
    NEGOTIATION.check_table_covers_every_state()


def test_refusal_reason_reads_as_a_sentence() -> None:
    outcome = machine.receive(Role.PROVIDER, NegotiationState.OFFERED, VER)
    assert isinstance(outcome, TransitionRefusal)
    assert outcome.problem.reason == (
        "a ContractAgreementVerificationMessage from the consumer is not allowed in state OFFERED; expected from the "
        "consumer: ContractRequestMessage, ContractNegotiationEventMessage (ACCEPTED) or "
        "ContractNegotiationTerminationMessage"
    )
    assert outcome.problem.details["allowed"] == [REQ, ACC, TER]


def test_wrong_sender_reason_names_the_role_that_sends_it() -> None:
    outcome = machine.receive(Role.PROVIDER, NegotiationState.VERIFIED, FIN)
    assert isinstance(outcome, TransitionRefusal)
    assert outcome.problem.reason == (
        "a ContractNegotiationEventMessage (FINALIZED) is sent only by the provider, never by the consumer"
    )


def test_final_state_reason() -> None:
    outcome = machine.receive(Role.PROVIDER, NegotiationState.FINALIZED, TER)
    assert isinstance(outcome, TransitionRefusal)
    assert outcome.problem.reason == (
        "the contract negotiation is FINALIZED, a final state: "
        "no ContractNegotiationTerminationMessage is accepted any more"
    )


def test_we_never_send_a_termination_into_a_terminated_negotiation() -> None:
    assert isinstance(machine.send(Role.CONSUMER, NegotiationState.TERMINATED, TER), TransitionRefusal)


def test_unknown_message_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        machine.receive(Role.PROVIDER, NegotiationState.OFFERED, "ContractNegotiationEventMessage:SIGNED")


def test_allowed_lists_what_a_role_may_send_now() -> None:
    assert machine.MACHINE.allowed(Role.CONSUMER, NegotiationState.OFFERED) == (
        NegotiationMessage.REQUEST,
        NegotiationMessage.ACCEPTED,
        NegotiationMessage.TERMINATION,
    )
    assert machine.MACHINE.allowed(Role.PROVIDER, None) == (NegotiationMessage.OFFER,)
    assert machine.MACHINE.allowed(Role.PROVIDER, NegotiationState.FINALIZED) == ()


# --- the TCK scenarios, seen from the connector under test -----------------------------------------------------
PROVIDER_SCENARIOS: dict[str, list[Step]] = {
    "CN:01-01": [("in", REQ, "REQUESTED"), ("out", OFF, "OFFERED"), ("in", TER, "TERMINATED")],
    "CN:01-02": [
        ("in", REQ, "REQUESTED"),
        ("out", OFF, "OFFERED"),
        ("in", REQ, "REQUESTED"),
        ("out", TER, "TERMINATED"),
    ],
    "CN:01-03": [
        ("in", REQ, "REQUESTED"),
        ("out", OFF, "OFFERED"),
        ("in", ACC, "ACCEPTED"),
        ("out", AGR, "AGREED"),
        ("in", VER, "VERIFIED"),
        ("out", FIN, "FINALIZED"),
    ],
    "CN:01-04": [("in", REQ, "REQUESTED"), ("out", AGR, "AGREED"), ("in", VER, "VERIFIED"), ("out", FIN, "FINALIZED")],
    "CN:02-01": [("in", REQ, "REQUESTED"), ("out", TER, "TERMINATED")],
    "CN:02-02": [("in", REQ, "REQUESTED"), ("in", TER, "TERMINATED")],
    "CN:02-03": [("in", REQ, "REQUESTED"), ("out", AGR, "AGREED"), ("in", TER, "TERMINATED")],
    "CN:02-04": [("in", REQ, "REQUESTED"), ("out", OFF, "OFFERED"), ("in", TER, "TERMINATED")],
    "CN:02-05": [("in", REQ, "REQUESTED"), ("out", OFF, "OFFERED"), ("out", TER, "TERMINATED")],
    "CN:02-06": [
        ("in", REQ, "REQUESTED"),
        ("out", OFF, "OFFERED"),
        ("in", ACC, "ACCEPTED"),
        ("out", TER, "TERMINATED"),
    ],
    "CN:02-07": [("in", REQ, "REQUESTED"), ("out", AGR, "AGREED"), ("in", VER, "VERIFIED"), ("out", TER, "TERMINATED")],
    "CN:03-01": [
        ("in", REQ, "REQUESTED"),
        ("out", AGR, "AGREED"),
        ("in", VER, "VERIFIED"),
        ("out", FIN, "FINALIZED"),
        ("in", TER, None),
    ],
    "CN:03-02": [("in", REQ, "REQUESTED"), ("out", OFF, "OFFERED"), ("in", VER, None)],
    "CN:03-03": [("in", REQ, "REQUESTED"), ("out", OFF, "OFFERED"), ("in", ACC, "ACCEPTED"), ("in", VER, None)],
    "CN:03-04": [("in", REQ, "REQUESTED"), ("out", OFF, "OFFERED"), ("in", REQ, "REQUESTED"), ("in", REQ, None)],
}
CONSUMER_SCENARIOS: dict[str, list[Step]] = {
    "CN_C:01-01": [
        ("out", REQ, "REQUESTED"),
        ("in", OFF, "OFFERED"),
        ("out", ACC, "ACCEPTED"),
        ("in", AGR, "AGREED"),
        ("out", VER, "VERIFIED"),
        ("in", FIN, "FINALIZED"),
    ],
    "CN_C:01-02": [
        ("out", REQ, "REQUESTED"),
        ("in", OFF, "OFFERED"),
        ("out", REQ, "REQUESTED"),
        ("in", TER, "TERMINATED"),
    ],
    "CN_C:01-03": [("out", REQ, "REQUESTED"), ("in", OFF, "OFFERED"), ("out", TER, "TERMINATED")],
    "CN_C:01-04": [
        ("out", REQ, "REQUESTED"),
        ("in", AGR, "AGREED"),
        ("out", VER, "VERIFIED"),
        ("in", FIN, "FINALIZED"),
    ],
    "CN_C:02-01": [("out", REQ, "REQUESTED"), ("in", TER, "TERMINATED")],
    "CN_C:02-02": [("out", REQ, "REQUESTED"), ("out", TER, "TERMINATED")],
    "CN_C:02-03": [("out", REQ, "REQUESTED"), ("in", AGR, "AGREED"), ("out", TER, "TERMINATED")],
    "CN_C:02-04": [("out", REQ, "REQUESTED"), ("in", OFF, "OFFERED"), ("in", TER, "TERMINATED")],
    "CN_C:02-05": [
        ("out", REQ, "REQUESTED"),
        ("in", OFF, "OFFERED"),
        ("out", ACC, "ACCEPTED"),
        ("in", TER, "TERMINATED"),
    ],
    "CN_C:02-06": [
        ("out", REQ, "REQUESTED"),
        ("in", AGR, "AGREED"),
        ("out", VER, "VERIFIED"),
        ("in", TER, "TERMINATED"),
    ],
    "CN_C:03-01": [("out", REQ, "REQUESTED"), ("in", FIN, None)],
    "CN_C:03-02": [("out", REQ, "REQUESTED"), ("in", OFF, "OFFERED"), ("in", AGR, None)],
    "CN_C:03-03": [("out", REQ, "REQUESTED"), ("in", OFF, "OFFERED"), ("in", FIN, None)],
    "CN_C:03-04": [("out", REQ, "REQUESTED"), ("in", OFF, "OFFERED"), ("out", ACC, "ACCEPTED"), ("in", FIN, None)],
    "CN_C:03-05": [("out", REQ, "REQUESTED"), ("in", OFF, "OFFERED"), ("out", ACC, "ACCEPTED"), ("in", OFF, None)],
    "CN_C:03-06": [
        ("out", REQ, "REQUESTED"),
        ("in", OFF, "OFFERED"),
        ("out", ACC, "ACCEPTED"),
        ("in", AGR, "AGREED"),
        ("in", FIN, None),
    ],
}


@pytest.mark.parametrize("scenario", sorted(PROVIDER_SCENARIOS))
def test_tck_provider_scenario(scenario: str) -> None:
    NEGOTIATION.play(Role.PROVIDER, PROVIDER_SCENARIOS[scenario])


@pytest.mark.parametrize("scenario", sorted(CONSUMER_SCENARIOS))
def test_tck_consumer_scenario(scenario: str) -> None:
    NEGOTIATION.play(Role.CONSUMER, CONSUMER_SCENARIOS[scenario])


# --- properties ------------------------------------------------------------------------------------------------
@given(NEGOTIATION.random_moves())
def test_random_message_sequences_stay_in_the_spec_and_final_states_absorb(
    sequence: list[tuple[Role, str, NegotiationMessage]],
) -> None:
    NEGOTIATION.check_random_sequence(sequence)


@given(st.sampled_from(list(Role)), st.sampled_from(list(NegotiationState)), st.sampled_from(list(NegotiationMessage)))
def test_whatever_we_may_send_the_peer_accepts(
    role: Role, state: NegotiationState, message: NegotiationMessage
) -> None:
    NEGOTIATION.check_send_agrees_with_receive(role, state, message)
