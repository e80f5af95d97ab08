"""Waiting for the peer, as values: when a process waits and until when, what it does when its time comes, what it
makes of the state its peer reports, and how a message received again is answered once the process moved on."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from stepkit import (
    CONSUMER_DSP,
    NOW,
    OUR_PID,
    PEER_PID,
    PROVIDER_DSP,
    assert_outcome_valid,
    consumer_context,
    negotiation,
    provider_context,
    transfer,
)

from connector.control import negotiations, steps, waiting
from connector.control.facts import NO_FACTS
from connector.control.outcome import Reply
from connector.control.steps import NEGOTIATION, TRANSFER, Waits
from connector.dsp.messages import ContractNegotiation, ContractNegotiationError, TransferProcess
from connector.dsp.vocabulary import NegotiationState as S
from connector.dsp.vocabulary import Role
from connector.dsp.vocabulary import TransferState as T

WAITS = Waits(timedelta(hours=1), timedelta(minutes=1))


def consumer(waits: Waits | None = WAITS, seconds: float = 0) -> Any:
    ctx = consumer_context()
    return dataclasses.replace(ctx, waits=waits, now=ctx.now + timedelta(seconds=seconds))


def provider(waits: Waits | None = WAITS) -> Any:
    return dataclasses.replace(provider_context(), waits=waits)


def waiting_consumer(state: Any = S.REQUESTED, **fields: Any) -> Any:
    return negotiation(
        Role.CONSUMER, state, deadline_at=NOW + timedelta(hours=1), check_at=NOW + timedelta(minutes=1), **fields
    )


# --- when a process waits, and until when -----------------------------------------------------------------------


def test_a_negotiation_that_starts_waiting_gets_its_deadline_and_first_state_query() -> None:
    outcome = negotiations.start(consumer(), "did:web:p", PROVIDER_DSP, {"@id": "o"}, "weather", None, CONSUMER_DSP)
    record = outcome.record
    assert (record.deadline_at, record.check_at) == (NOW + timedelta(hours=1), NOW + timedelta(minutes=1))


def test_the_times_stay_while_the_process_waits_in_the_same_state_and_go_when_it_ends() -> None:
    record = waiting_consumer(provider_pid=None)
    later = consumer(seconds=30)
    delivered = steps.delivered(record, "ContractRequestMessage", {"providerPid": PEER_PID}, NO_FACTS, later)
    assert delivered.record.provider_pid == PEER_PID
    assert (delivered.record.deadline_at, delivered.record.check_at) == (record.deadline_at, record.check_at)
    ended = negotiations.command(delivered.record, OUR_PID, "terminate", "no longer needed", NO_FACTS, later)
    assert ended.state == "TERMINATED" and ended.record.deadline_at is None and ended.record.check_at is None


def test_a_process_owing_a_step_does_not_wait() -> None:
    record = negotiation(Role.PROVIDER, S.REQUESTED, pending="decide")
    assert not steps.waits_for_peer(record)
    assert steps.waits_for_peer(dataclasses.replace(record, pending=None))


@pytest.mark.parametrize(
    ("state", "waits"),
    [(T.REQUESTED, True), (T.STARTED, False), (T.SUSPENDED, False), (T.COMPLETED, False), (T.TERMINATED, False)],
)
def test_of_a_transfer_only_a_request_waits_for_the_peer(state: Any, waits: bool) -> None:
    assert steps.waits_for_peer(transfer(Role.CONSUMER, state)) is waits


def test_without_a_query_interval_the_first_check_is_the_deadline() -> None:
    outcome = negotiations.start(
        consumer(Waits(timedelta(seconds=10))), "did:web:p", PROVIDER_DSP, {"@id": "o"}, "weather", None, CONSUMER_DSP
    )
    assert outcome.record.check_at == outcome.record.deadline_at == NOW + timedelta(seconds=10)


# --- when the time comes ----------------------------------------------------------------------------------------


def test_a_due_process_asks_its_peer_under_the_peers_own_process_id() -> None:
    record = waiting_consumer(provider_pid="urn:uuid:their id")
    outcome, query = waiting.when_due(record, 0, consumer(seconds=61))
    assert query == waiting.StateQuery(f"{PROVIDER_DSP}/negotiations/urn:uuid:their%20id", record.peer_id)
    assert outcome is not None and outcome.record.check_at == NOW + timedelta(seconds=121)
    assert outcome.record.deadline_at == record.deadline_at and not outcome.history


def test_a_due_process_whose_message_is_still_on_its_way_asks_later() -> None:
    record = waiting_consumer()
    outcome, query = waiting.when_due(record, 1, consumer(seconds=3601))
    assert query is None and outcome is not None and outcome.state == "REQUESTED"
    assert outcome.record.check_at == NOW + timedelta(seconds=3661)


def test_at_its_deadline_a_waiting_process_gives_up_and_tells_the_peer() -> None:
    record = waiting_consumer(S.VERIFIED)
    outcome, query = waiting.when_due(record, 0, consumer(seconds=3600))
    assert query is None and outcome is not None and outcome.state == "TERMINATED"
    assert outcome.record.reason == "gave up waiting for the peer after 3600 s in VERIFIED (the wait deadline)"
    assert outcome.record.deadline_at is None and outcome.record.check_at is None
    (farewell,) = outcome.messages
    assert farewell.url == f"{PROVIDER_DSP}/negotiations/{PEER_PID}/termination"
    assert farewell.body["code"] == "wait.deadline"
    assert [h.cause for h in outcome.history] == ["wait deadline passed"]
    assert_outcome_valid(outcome)


def test_a_process_that_moved_on_meanwhile_only_loses_its_times() -> None:
    record = dataclasses.replace(waiting_consumer(S.AGREED), pending="verify")
    outcome, query = waiting.when_due(record, 0, consumer(seconds=61))
    assert query is None and outcome is not None
    assert outcome.record.check_at is None and outcome.record.deadline_at is None and not outcome.messages


# --- what the peer reports --------------------------------------------------------------------------------------


def _state(record: Any, state: str, kind: Any = NEGOTIATION) -> dict[str, Any]:
    ack = ContractNegotiation if kind is NEGOTIATION else TransferProcess
    return ack(provider_pid=record.provider_pid, consumer_pid=record.consumer_pid, state=state).to_json()


def test_a_process_the_peer_ended_ends_here_without_a_message() -> None:
    record = waiting_consumer()
    outcome = waiting.followed(record, 200, _state(record, "TERMINATED"), consumer(seconds=61))
    assert outcome is not None and outcome.state == "TERMINATED" and not outcome.messages and outcome.drop_queued
    assert outcome.record.reason == "the peer reports the negotiation TERMINATED"
    assert [h.cause for h in outcome.history] == ["state query: terminated by the peer"]


def test_a_process_unknown_to_the_peer_ends_with_the_peers_words() -> None:
    record = waiting_consumer()
    error = ContractNegotiationError(
        provider_pid=PEER_PID, consumer_pid=OUR_PID, code="dsp.negotiation.not_found", reason=("no such thing",)
    ).to_json()
    outcome = waiting.followed(record, 404, error, consumer(seconds=61))
    assert outcome is not None and outcome.state == "TERMINATED" and not outcome.messages
    assert outcome.record.reason == "the peer does not know the negotiation (dsp.negotiation.not_found: no such thing)"


def test_a_404_that_is_not_the_protocols_answer_teaches_nothing() -> None:
    record = waiting_consumer()
    assert waiting.followed(record, 404, {"error": "no route"}, consumer(seconds=61)) is None
    assert waiting.followed(record, 503, None, consumer(seconds=61)) is None


@pytest.mark.parametrize("theirs", ["REQUESTED", "AGREED", "VERIFIED"])
def test_a_peer_in_the_same_or_a_later_state_short_of_its_end_is_waited_for(theirs: str) -> None:
    record = waiting_consumer()
    assert waiting.followed(record, 200, _state(record, theirs), consumer(seconds=61)) is None


def test_an_answer_about_another_process_is_ignored() -> None:
    record = waiting_consumer()
    other = {**_state(record, "TERMINATED"), "consumerPid": "urn:uuid:someone-else"}
    assert waiting.followed(record, 200, other, consumer(seconds=61)) is None


def test_a_lost_finalized_event_is_caught_up_with() -> None:
    record = waiting_consumer(S.VERIFIED, agreement_id="urn:uuid:agreement-1")
    outcome = waiting.followed(record, 200, _state(record, "FINALIZED"), consumer(seconds=61))
    assert outcome is not None and outcome.state == "FINALIZED" and outcome.finalizes_agreement
    assert not outcome.messages and outcome.record.deadline_at is None and outcome.record.check_at is None
    (entry,) = outcome.history
    assert entry.cause == "state query: the peer has ended it so" and entry.changes_state


def test_an_end_of_the_peers_that_this_side_cannot_reach_ends_both() -> None:
    record = waiting_consumer(S.REQUESTED)
    outcome = waiting.followed(record, 200, _state(record, "FINALIZED"), consumer(seconds=61))
    assert outcome is not None and outcome.state == "TERMINATED"
    (farewell,) = outcome.messages
    assert farewell.body["code"] == "state.diverged"
    record = transfer(Role.CONSUMER, T.REQUESTED)
    outcome = waiting.followed(record, 200, _state(record, "COMPLETED", TRANSFER), consumer(seconds=61))
    assert outcome is not None and outcome.state == "TERMINATED" and outcome.messages


def test_a_provider_waiting_for_the_verification_asks_the_consumer() -> None:
    record = negotiation(
        Role.PROVIDER, S.AGREED, deadline_at=NOW + timedelta(hours=1), check_at=NOW + timedelta(minutes=1)
    )
    _, query = waiting.when_due(record, 0, provider())
    assert query is not None and query.url == f"{CONSUMER_DSP}/negotiations/{PEER_PID}"


# --- a message received again -------------------------------------------------------------------------------------


def test_a_message_received_again_gets_its_first_answer_while_the_process_is_as_it_was() -> None:
    record = negotiation(Role.PROVIDER, S.REQUESTED)
    first = NEGOTIATION.ack(record, 201).body
    assert steps.answered_again(NEGOTIATION, record, 201, first) == Reply(201, first)


def test_a_message_received_again_after_its_process_moved_on_gets_the_state_now() -> None:
    record = negotiation(Role.PROVIDER, S.REQUESTED)
    first = NEGOTIATION.ack(record, 201).body
    moved = dataclasses.replace(record, state=S.AGREED)
    again = steps.answered_again(NEGOTIATION, moved, 201, first)
    assert again.status == 201 and again.body["state"] == "AGREED"


def test_a_message_received_again_after_its_process_was_terminated_gets_the_protocols_error() -> None:
    record = negotiation(Role.PROVIDER, S.REQUESTED)
    first = NEGOTIATION.ack(record, 201).body
    ended = dataclasses.replace(record, state=S.TERMINATED, reason="contract refused")
    again = steps.answered_again(NEGOTIATION, ended, 201, first)
    assert again.status == 400 and again.body["@type"] == "ContractNegotiationError"
    assert again.body["code"] == "dsp.negotiation.terminated" and "contract refused" in again.body["reason"][0]
    # What ended it, received again, is still acknowledged as it was.
    assert steps.answered_again(NEGOTIATION, ended, 200, NEGOTIATION.ack(ended).body).status == 200


def test_waits_are_off_without_settings() -> None:
    ctx = dataclasses.replace(consumer_context(), waits=None)
    outcome = negotiations.start(ctx, "did:web:p", PROVIDER_DSP, {"@id": "o"}, "weather", None, CONSUMER_DSP)
    assert outcome.record.deadline_at is None and outcome.record.check_at is None
