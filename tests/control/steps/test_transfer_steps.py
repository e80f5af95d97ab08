"""Transfer process steps as values: every message in every state of both roles, the policy at start and resume,
the steps we owe and our users' commands; what each step decides is read from the outcome it returns."""

from __future__ import annotations

from typing import Any

import pytest
from stepkit import (
    AGREEMENT_ID,
    CONSUMER,
    CONSUMER_DSP,
    NOW,
    OUR_PID,
    PEER_PID,
    PROVIDER,
    PROVIDER_DSP,
    Script,
    admission,
    agreement,
    assert_outcome_valid,
    consumer_context,
    provider_context,
    received,
    refusal_code,
    take,
    transfer,
)

from connector.control import pending, transfers
from connector.control.facts import NO_FACTS, Admission, Facts
from connector.control.outcome import OpenFlow, Outcome, Reply
from connector.dsp.messages import (
    DataAddress,
    TransferCompletionMessage,
    TransferRequestMessage,
    TransferStartMessage,
    TransferSuspensionMessage,
    TransferTerminationMessage,
)
from connector.dsp.transfer_machine import TRANSITIONS
from connector.dsp.vocabulary import Role
from connector.dsp.vocabulary import TransferMessage as M
from connector.dsp.vocabulary import TransferState as S
from connector.errors import ConnectorError
from connector.records.definitions import Asset

PULL_ADDRESS = {
    "@type": "DataAddress",
    "endpointType": "https://w3id.org/idsa/v4.1/HTTP",
    "endpoint": "https://provider.example/data/1",
    "endpointProperties": [{"@type": "EndpointProperty", "name": "authorization", "value": "token"}],
}
LIMITED = {
    "permission": [{"action": "use", "constraint": [{"leftOperand": "count", "operator": "lteq", "rightOperand": 1}]}]
}


def message_to(record: Any, message: M) -> Any:
    pids = {"provider_pid": record.provider_pid, "consumer_pid": record.consumer_pid}
    if message == M.START:
        return TransferStartMessage(**pids, data_address=DataAddress.from_node(PULL_ADDRESS))
    if message == M.COMPLETION:
        return TransferCompletionMessage(**pids)
    if message == M.SUSPENSION:
        return TransferSuspensionMessage(**pids, code="pause", reason=("maintenance",))
    if message == M.TERMINATION:
        return TransferTerminationMessage(**pids, code="stop", reason=("done",))
    return TransferRequestMessage(
        consumer_pid=record.consumer_pid,
        agreement_id=AGREEMENT_ID,
        format="HttpData-PULL",
        callback_address=CONSUMER_DSP,
    )


CASES = [(role, state, message) for role in Role for state in S for message in M if message != M.REQUEST]


@pytest.mark.parametrize(("role", "state", "message"), CASES, ids=lambda v: str(v))
def test_every_message_in_every_state_of_both_roles(role: Role, state: S, message: M) -> None:
    tp = transfer(role, state)
    facts = Facts(admission=admission(), flow_detail={"dataplane": {"bytesSent": 5}})
    result = take(tp, received(message_to(tp, message), tp.peer_id), facts)
    target = TRANSITIONS[role.peer].get(state, {}).get(message)
    if target is None:
        assert isinstance(result, Reply)
        if state == S.TERMINATED and message == M.TERMINATION:
            assert (result.status, result.body["state"], result.process_id) == (200, "TERMINATED", OUR_PID)
        else:
            assert result.status == 400 and refusal_code(result).startswith("dsp.transfer."), result
        return
    assert isinstance(result, Outcome)
    assert_outcome_valid(result)
    assert result.state == target.value and result.reply is not None and result.reply.status == 200
    assert result.pending is None and not result.messages
    entry = result.history[-1]
    assert (entry.from_state, entry.to_state) == (state.value, target.value)
    assert result.drop_queued == (target in (S.TERMINATED, S.COMPLETED))
    assert result.flow == (OpenFlow(first=False) if message == M.START and role == Role.PROVIDER else None)
    if message == M.COMPLETION:
        assert entry.detail == {"dataplane": {"bytesSent": 5}}
    if message == M.TERMINATION:
        assert result.record.reason == "the peer's termination: done (code stop)" == entry.why
    if message == M.SUSPENSION:
        assert result.record.reason is None and entry.why == "the peer's suspension: maintenance (code pause)"


def test_the_consumer_learns_the_data_address_and_the_providers_pid_from_the_start() -> None:
    tp = transfer(Role.CONSUMER, S.REQUESTED, provider_pid=None)
    outcome = take(tp, received(message_to(transfer(Role.CONSUMER, S.REQUESTED), M.START), PROVIDER))
    assert isinstance(outcome, Outcome)
    assert outcome.record.data_address == PULL_ADDRESS and outcome.record.provider_pid == PEER_PID
    assert outcome.history[0].detail == {"endpoint": PULL_ADDRESS["endpoint"]}


def test_a_resume_the_agreement_no_longer_permits_is_refused_and_noted() -> None:
    tp = transfer(Role.PROVIDER, S.SUSPENDED)
    outcome = take(tp, received(message_to(tp, M.START), CONSUMER), Facts(admission=admission(2, policy=LIMITED)))
    assert isinstance(outcome, Outcome) and outcome.reply is not None
    assert (outcome.reply.status, refusal_code(outcome.reply)) == (400, "policy.refused")
    assert not outcome.changed and outcome.flow is None and outcome.state == "SUSPENDED"
    assert outcome.history[0].cause == "resume refused by the agreement's policy"
    assert outcome.evidence[0].kind == "policy.decided" and outcome.evidence[0].data["permitted"] is False
    unknown = take(tp, received(message_to(tp, M.START), CONSUMER), Facts(admission=Admission(None)))
    assert isinstance(unknown, Outcome) and not unknown.evidence
    assert unknown.history[0].why == f"agreement '{AGREEMENT_ID}' is unknown"


def test_a_script_chooses_the_step_owed_after_a_start() -> None:
    tp = transfer(Role.CONSUMER, S.REQUESTED)
    script = Script({"TransferStartMessage": pending.COMPLETE})
    outcome = take(tp, received(message_to(tp, M.START), PROVIDER), ctx=consumer_context(script))
    assert isinstance(outcome, Outcome) and outcome.pending == pending.COMPLETE


# --- the provider receives a request ----------------------------------------------------------------------------


def request(**fields: Any) -> TransferRequestMessage:
    values: dict[str, Any] = {
        "consumer_pid": PEER_PID,
        "agreement_id": AGREEMENT_ID,
        "format": "HttpData-PULL",
        "callback_address": CONSUMER_DSP + "/",
    }
    values.update(fields)
    return TransferRequestMessage(**values)


def test_a_request_under_our_final_agreement_with_this_consumer_starts_a_transfer_owing_its_start() -> None:
    claims = {"participantId": CONSUMER, "verifiedAt": NOW.isoformat(), "credentials": []}
    event = received(request(), CONSUMER, None, claims)
    outcome = transfers.initial_request(event, provider_context(), None, agreement(), None)
    assert isinstance(outcome, Outcome)
    assert_outcome_valid(outcome)
    tp = outcome.record
    assert (tp.id, tp.provider_pid, tp.consumer_pid, tp.peer_address, tp.claims) == (
        "urn:uuid:id-1",
        "urn:uuid:id-1",
        PEER_PID,
        CONSUMER_DSP,
        claims,
    )
    assert outcome.pending == pending.START and outcome.reply == Reply(201, outcome.reply.body, tp.id)
    assert outcome.history[0].detail == {"agreement": AGREEMENT_ID, "format": "HttpData-PULL"}
    assert outcome.evidence[0].data == {"type": M.REQUEST}
    script = Script({"TransferRequestMessage": None})
    held = transfers.initial_request(event, provider_context(script), None, agreement(), None)
    assert isinstance(held, Outcome) and held.pending is None


@pytest.mark.parametrize(
    ("message", "held", "asset", "code"),
    [
        (request(callback_address="mailto:x"), agreement(), None, "dsp.invalid_message"),
        (request(), None, None, "transfer.unknown_agreement"),
        (request(), agreement(consumer_id="did:web:else"), None, "transfer.unknown_agreement"),
        (request(), agreement(provider_id="did:web:else"), None, "transfer.unknown_agreement"),
        (request(), agreement(finalized=False), None, "transfer.agreement_not_final"),
        (request(format="HttpData-PUSH"), agreement(), None, "transfer.unsupported_format"),
        (
            request(format="HttpData-PUSH"),
            agreement(),
            Asset("weather", formats=("HttpData-PUSH",)),
            "transfer.no_destination",
        ),
    ],
    ids=["callback", "no-agreement", "other-consumer", "other-provider", "not-final", "format", "no-destination"],
)
def test_requests_are_refused_without_a_usable_agreement_or_destination(
    message: TransferRequestMessage, held: Any, asset: Any, code: str
) -> None:
    reply = transfers.initial_request(received(message, CONSUMER, None), provider_context(), None, held, asset)
    assert isinstance(reply, Reply) and (reply.status, refusal_code(reply), reply.process_id) == (400, code, None)
    assert reply.body["consumerPid"] == PEER_PID


def test_a_push_request_keeps_its_destination_and_a_retry_is_acknowledged() -> None:
    destination = DataAddress.from_node(PULL_ADDRESS)
    event = received(request(format="HttpData-PUSH", data_address=destination), CONSUMER, None)
    asset = Asset("weather", formats=("HttpData-PUSH",))
    outcome = transfers.initial_request(event, provider_context(), None, agreement(), asset)
    assert isinstance(outcome, Outcome) and outcome.record.data_address == destination.to_node()
    existing = transfer(Role.PROVIDER, S.STARTED)
    again = transfers.initial_request(event, provider_context(), existing, None, None)
    assert isinstance(again, Reply) and (again.status, again.process_id, again.body["state"]) == (
        201,
        OUR_PID,
        "STARTED",
    )


# --- policy at transfer time ------------------------------------------------------------------------------------


def test_admission_counts_this_transfer_among_the_uses_once_it_started() -> None:
    tp = transfer(Role.PROVIDER, S.REQUESTED)
    first, decided = transfers.admission(tp, admission(0, policy=LIMITED), provider_context(), first_start=True)
    assert first.permitted and decided is not None and decided.data["stage"] == "transfer"
    again, _ = transfers.admission(tp, admission(1, policy=LIMITED), provider_context())
    assert again.permitted  # the pull of the one started transfer
    second, _ = transfers.admission(tp, admission(1, policy=LIMITED), provider_context(), first_start=True)
    assert not second.permitted
    unknown, none = transfers.admission(tp, None, provider_context())
    assert not unknown.permitted and none is None


# --- our moves (pending steps) ----------------------------------------------------------------------------------


def perform(tp: Any, facts: Facts = NO_FACTS, script: Any = None) -> Outcome:
    ctx = provider_context(script) if tp.role == Role.PROVIDER else consumer_context(script)
    outcome = transfers.perform(tp, facts, ctx)
    assert_outcome_valid(outcome)
    assert outcome.changed and outcome.pending is None
    return outcome


def test_start_opens_the_flow_and_sends_the_start_when_the_agreement_permits() -> None:
    outcome = perform(transfer(Role.PROVIDER, S.REQUESTED, pending="start"), Facts(admission=admission(0)))
    assert outcome.state == "STARTED" and outcome.flow == OpenFlow(first=True)
    assert [h.cause for h in outcome.history] == ["transfer policy decided", "sent TransferStartMessage"]
    assert outcome.evidence[0].kind == "policy.decided"
    (message,) = outcome.messages
    assert message.url == f"{CONSUMER_DSP}/transfers/{PEER_PID}/start" and "dataAddress" not in message.body
    opened = outcome.with_data_address(PULL_ADDRESS)
    assert opened.record.data_address == PULL_ADDRESS
    assert opened.messages[0].body["dataAddress"] == PULL_ADDRESS and list(opened.messages[0].body)[-1] == (
        "dataAddress"
    )
    assert_outcome_valid(opened)
    resumed = perform(transfer(Role.PROVIDER, S.SUSPENDED, pending="start"), Facts(admission=admission(1)))
    assert resumed.state == "STARTED" and resumed.flow == OpenFlow(first=False)


def test_start_terminates_a_transfer_the_agreement_does_not_permit() -> None:
    outcome = perform(
        transfer(Role.PROVIDER, S.REQUESTED, pending="start"), Facts(admission=admission(1, policy=LIMITED))
    )
    assert outcome.state == "TERMINATED" and outcome.flow is None
    assert outcome.messages[0].body["code"] == "policy.refused"
    assert outcome.record.reason.startswith("the agreement does not permit this transfer: ")


def test_start_under_a_script_decides_nothing() -> None:
    outcome = perform(transfer(Role.PROVIDER, S.REQUESTED, pending="start"), NO_FACTS, Script())
    assert outcome.state == "STARTED" and not outcome.evidence and len(outcome.history) == 1


def test_complete_suspend_and_terminate_tell_the_peer() -> None:
    completed = perform(transfer(Role.CONSUMER, S.STARTED, pending="complete"))
    assert (
        completed.state == "COMPLETED"
        and completed.messages[0].url == f"{PROVIDER_DSP}/transfers/{PEER_PID}/completion"
    )
    suspended = perform(transfer(Role.PROVIDER, S.STARTED, pending="suspend"))
    assert suspended.state == "SUSPENDED" and suspended.messages[0].body["reason"] == ["suspended by this participant"]
    assert suspended.history[0].why == "suspended by this participant" and suspended.record.reason is None
    ended = perform(transfer(Role.PROVIDER, S.STARTED, pending="terminate:quota"))
    assert ended.state == "TERMINATED" and ended.record.reason == "quota" and ended.drop_queued


def test_a_step_not_allowed_now_is_noted_and_an_unknown_one_ends_the_transfer() -> None:
    noted = perform(transfer(Role.CONSUMER, S.REQUESTED, pending="complete"))
    assert noted.state == "REQUESTED" and noted.history[0].cause == "step 'complete' not taken"
    unknown = perform(transfer(Role.PROVIDER, S.REQUESTED, pending="decide"))  # a negotiation's step
    assert unknown.state == "TERMINATED" and unknown.record.reason == "internal: unknown step 'decide'"


# --- commands ---------------------------------------------------------------------------------------------------


def test_start_requests_a_transfer_from_the_provider_of_our_agreement() -> None:
    ctx = consumer_context()
    held = agreement(provider_address=PROVIDER_DSP)
    provider_id, address = transfers.provider_of(held, AGREEMENT_ID, ctx)
    assert (provider_id, address) == (PROVIDER, PROVIDER_DSP)
    outcome = transfers.start(ctx, "urn:uuid:new", AGREEMENT_ID, "HttpData-PULL", None, provider_id, address, "cb")
    assert_outcome_valid(outcome)
    (message,) = outcome.messages
    assert message.url == f"{PROVIDER_DSP}/transfers/request" and "@id" not in message.body
    assert outcome.record.consumer_pid == "urn:uuid:new" and outcome.history[0].cause == "sent TransferRequestMessage"
    push = transfers.start(ctx, "urn:uuid:new", AGREEMENT_ID, "HttpData-PUSH", PULL_ADDRESS, PROVIDER, address, "cb")
    assert push.record.data_address == PULL_ADDRESS and push.messages[0].body["dataAddress"] == PULL_ADDRESS
    with pytest.raises(ConnectorError, match="needs a destination"):
        transfers.start(ctx, "urn:uuid:new", AGREEMENT_ID, "HttpData-PUSH", None, PROVIDER, address, "cb")


@pytest.mark.parametrize(
    ("held", "given", "code"),
    [
        (agreement(consumer_id="did:web:else"), (None, None), "transfer.not_consumer"),
        (agreement(finalized=False), (None, None), "transfer.agreement_not_final"),
        (None, (PROVIDER, None), "agreement.not_found"),
        (agreement(), (None, None), "transfer.no_address"),
    ],
)
def test_a_transfer_is_requested_only_under_a_final_agreement_of_ours_with_a_known_provider(
    held: Any, given: tuple[Any, Any], code: str
) -> None:
    with pytest.raises(ConnectorError) as refused:
        transfers.provider_of(held, AGREEMENT_ID, consumer_context(), *given)
    assert refused.value.code == code
    assert transfers.provider_of(None, AGREEMENT_ID, consumer_context(), PROVIDER, PROVIDER_DSP) == (
        PROVIDER,
        PROVIDER_DSP,
    )


def command(tp: Any, action: str, reason: str | None = None, facts: Facts = NO_FACTS) -> Outcome:
    ctx = provider_context() if tp is not None and tp.role == Role.PROVIDER else consumer_context()
    outcome = transfers.command(tp, OUR_PID, action, reason, facts, ctx)
    assert_outcome_valid(outcome)
    return outcome


def test_commands_suspend_resume_complete_and_terminate() -> None:
    assert command(transfer(Role.CONSUMER, S.STARTED), "suspend", "lunch").messages[0].body["reason"] == ["lunch"]
    assert command(transfer(Role.CONSUMER, S.STARTED), "complete").state == "COMPLETED"
    assert command(transfer(Role.PROVIDER, S.SUSPENDED), "terminate").record.reason == "terminated by this participant"
    resumed = command(transfer(Role.CONSUMER, S.SUSPENDED), "resume")
    assert resumed.state == "STARTED" and resumed.flow is None
    assert resumed.messages[0].body["consumerPid"] == OUR_PID and resumed.messages[0].url.endswith("/start")
    restarted = command(transfer(Role.PROVIDER, S.SUSPENDED), "resume", facts=Facts(admission=admission(1)))
    assert restarted.state == "STARTED" and restarted.flow == OpenFlow(first=False)


@pytest.mark.parametrize(
    ("record", "action", "code"),
    [
        (None, "suspend", "transfer.not_found"),
        (transfer(Role.CONSUMER, S.COMPLETED), "terminate", "transfer.invalid_state"),
        (transfer(Role.CONSUMER, S.STARTED), "resume", "transfer.invalid_state"),
        (transfer(Role.CONSUMER, S.STARTED), "dance", "transfer.bad_command"),
        (transfer(Role.CONSUMER, S.REQUESTED), "complete", "dsp.transfer.invalid_transition"),
    ],
)
def test_commands_the_transfer_cannot_take_are_refused(record: Any, action: str, code: str) -> None:
    with pytest.raises(ConnectorError) as refused:
        command(record, action)
    assert refused.value.code == code
