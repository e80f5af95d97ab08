"""Contract negotiation steps as values: every message in every state of both roles, the steps we owe, our
users' commands; what each step decides is read from the outcome it returns (nothing is stored)."""

from __future__ import annotations

from typing import Any

import pytest
from stepkit import (
    AGREEMENT_ID,
    CONSUMER,
    CONSUMER_DSP,
    DATASET,
    NOW,
    OFFER,
    OUR_PID,
    PEER_PID,
    PROVIDER,
    PROVIDER_DSP,
    Script,
    agreement,
    assert_outcome_valid,
    consumer_context,
    negotiation,
    offered,
    provider_context,
    received,
    refusal_code,
    take,
)

from connector.control import negotiations, pending, steps
from connector.control.events import Peer, Received
from connector.control.facts import NO_FACTS, Facts
from connector.control.outcome import Countersign, Outcome, Reply, SignAgreement
from connector.control.pending import PendingStep, StepName
from connector.dsp.messages import (
    ContractAgreementMessage,
    ContractAgreementVerificationMessage,
    ContractNegotiationEventMessage,
    ContractNegotiationTerminationMessage,
    ContractOfferMessage,
    ContractRequestMessage,
)
from connector.dsp.negotiation_machine import TRANSITIONS
from connector.dsp.vocabulary import NegotiationEvent, Role
from connector.dsp.vocabulary import NegotiationMessage as M
from connector.dsp.vocabulary import NegotiationState as S
from connector.errors import ConnectorError, Problem
from connector.records.definitions import OfferDefinition

# --- messages from the peer, as the peer sends them -------------------------------------------------------------


def message_to(record: Any, message: M) -> Any:
    """`message` as the peer sends it about `record` (our pid and its own)."""
    pids = {"provider_pid": record.provider_pid, "consumer_pid": record.consumer_pid}
    if message == M.REQUEST:
        return ContractRequestMessage(**pids, offer={**OFFER, "@id": "counter-offer"})
    if message == M.OFFER:
        return ContractOfferMessage(**pids, offer={**OFFER, "@id": "provider-counter"})
    if message == M.AGREEMENT:
        return ContractAgreementMessage(**pids, agreement=agreement().policy)
    if message == M.VERIFICATION:
        return ContractAgreementVerificationMessage(**pids)
    if message in (M.ACCEPTED, M.FINALIZED):
        return ContractNegotiationEventMessage(**pids, event_type=NegotiationEvent(message.value.partition(":")[2]))
    return ContractNegotiationTerminationMessage(**pids, code="done", reason=("no longer needed",))


def sender_of(record: Any) -> str:
    return record.peer_id


# What each message leaves us owing, by default.
OWED = {
    M.REQUEST: pending.DECIDE,
    M.ACCEPTED: pending.AGREE,
    M.FINALIZED: None,
    M.VERIFICATION: pending.FINALIZE,
    M.TERMINATION: None,
    M.OFFER: pending.CONSIDER_OFFER,
    M.AGREEMENT: pending.VERIFY,
}
CASES = [(role, state, message) for role in Role for state in S for message in M]


@pytest.mark.parametrize(("role", "state", "message"), CASES, ids=lambda v: str(v))
def test_every_message_in_every_state_of_both_roles(role: Role, state: S, message: M) -> None:
    neg = negotiation(role, state, pending="offer" if not state.is_terminal else None)
    result = take(neg, received(message_to(neg, message), sender_of(neg)), Facts(queued=2))
    target = TRANSITIONS[role.peer].get(state, {}).get(message)
    mine = negotiations.OUR_ROLE.get(message) in (None, role)
    if not mine:
        assert isinstance(result, Reply) and result.status == 404
        assert refusal_code(result) == "dsp.negotiation.not_found"
        return
    if target is None:
        assert isinstance(result, Reply)
        if state == S.TERMINATED and message == M.TERMINATION:  # a retried termination: acknowledged again
            assert (result.status, result.body["state"], result.process_id) == (200, "TERMINATED", OUR_PID)
        else:
            assert result.status == 400, result
            assert refusal_code(result).startswith("dsp.negotiation.")
        return
    assert isinstance(result, Outcome)
    assert_outcome_valid(result)
    assert result.changed and result.record.state == target
    assert result.reply == Reply(200, result.reply.body, OUR_PID) and result.reply.body["state"] == target.value
    assert result.pending == OWED[message]
    (entry,) = result.history
    assert (entry.from_state, entry.to_state) == (state.value, target.value)
    assert entry.cause.startswith(f"received {message.label}")
    assert result.record.updated_at == NOW and not result.messages
    assert result.drop_queued == (message == M.TERMINATION)
    assert result.finalizes_agreement == (message == M.FINALIZED)
    assert (result.agreement is not None) == (message == M.AGREEMENT)


def test_a_message_about_a_process_of_another_peer_or_pid_is_not_found() -> None:
    neg = negotiation(Role.PROVIDER, S.AGREED)
    verification = message_to(neg, M.VERIFICATION)
    for result in (
        take(neg, received(verification, "did:web:someone-else")),
        take(neg, received(ContractAgreementVerificationMessage(provider_pid=OUR_PID, consumer_pid="other"), CONSUMER)),
        steps.admit(steps.NEGOTIATION, None, received(verification, CONSUMER)),
    ):
        assert isinstance(result, Reply) and result.status == 404 and result.process_id is None
        assert result.body["providerPid"] == OUR_PID


def test_a_consumer_takes_messages_before_it_learned_the_providers_pid() -> None:
    neg = negotiation(Role.CONSUMER, S.REQUESTED, provider_pid=None)
    result = take(
        neg,
        received(
            ContractAgreementMessage(provider_pid=PEER_PID, consumer_pid=OUR_PID, agreement=agreement().policy),
            PROVIDER,
        ),
    )
    assert isinstance(result, Outcome) and result.record.provider_pid == PEER_PID


# --- the peer starts a negotiation ------------------------------------------------------------------------------


def initial_request(**extra: Any) -> ContractRequestMessage:
    return ContractRequestMessage(
        consumer_pid=PEER_PID, offer=dict(OFFER), callback_address=CONSUMER_DSP + "/", **extra
    )


def test_a_consumers_first_request_starts_a_negotiation_owing_a_decision() -> None:
    claims = {"participantId": CONSUMER, "verifiedAt": NOW.isoformat(), "credentials": []}
    event = received(initial_request(extensions={"purpose": "research"}), CONSUMER, None, claims)
    outcome = negotiations.initial_request(event, provider_context(), None, None)
    assert isinstance(outcome, Outcome)
    assert_outcome_valid(outcome)
    neg = outcome.record
    assert (neg.id, neg.provider_pid, neg.consumer_pid, neg.role, neg.state) == (
        "urn:uuid:id-1",
        "urn:uuid:id-1",
        PEER_PID,
        Role.PROVIDER,
        S.REQUESTED,
    )
    assert (neg.peer_id, neg.peer_address, neg.dataset_id, neg.purpose, neg.claims) == (
        CONSUMER,
        CONSUMER_DSP,
        DATASET,
        "research",
        claims,
    )
    assert outcome.changed and outcome.pending == pending.DECIDE
    assert outcome.reply == Reply(201, outcome.reply.body, neg.id)
    (entry,) = outcome.history
    assert (entry.from_state, entry.to_state, entry.cause) == (None, "REQUESTED", "received ContractRequestMessage")
    assert entry.detail == {"offer": "weather-offer", "dataset": DATASET}
    (receipt,) = outcome.evidence
    assert receipt.kind == "dsp.received" and receipt.subject == event.body
    assert receipt.data == {"type": M.REQUEST}


def test_a_request_naming_no_target_is_for_the_dataset_of_the_offer_it_names() -> None:
    offer = {k: v for k, v in OFFER.items() if k != "target"}
    event = received(
        ContractRequestMessage(consumer_pid=PEER_PID, offer=offer, callback_address=CONSUMER_DSP), CONSUMER, None
    )
    known = OfferDefinition("weather-offer", "weather-archive", "policy")
    outcome = negotiations.initial_request(event, provider_context(), None, known)
    assert isinstance(outcome, Outcome) and outcome.record.dataset_id == "weather-archive"
    outcome = negotiations.initial_request(event, provider_context(), None, None)
    assert isinstance(outcome, Outcome) and outcome.record.dataset_id is None


def test_a_first_request_retried_is_acknowledged_as_the_negotiation_it_started() -> None:
    existing = negotiation(Role.PROVIDER, S.AGREED)
    reply = negotiations.initial_request(
        received(initial_request(), CONSUMER, None), provider_context(), existing, None
    )
    assert isinstance(reply, Reply) and (reply.status, reply.process_id, reply.body["state"]) == (
        201,
        OUR_PID,
        "AGREED",
    )


def test_first_messages_are_refused_on_a_process_path_or_without_a_callback_url() -> None:
    misrouted = negotiations.initial_request(
        received(initial_request(), CONSUMER, "urn:uuid:x"), provider_context(), None, None
    )
    assert isinstance(misrouted, Reply) and misrouted.status == 400
    assert refusal_code(misrouted) == "dsp.negotiation.misrouted" and misrouted.body["providerPid"] == "urn:uuid:x"
    no_url = ContractRequestMessage(consumer_pid=PEER_PID, offer=dict(OFFER), callback_address="ftp://consumer")
    refused = negotiations.initial_request(received(no_url, CONSUMER, None), provider_context(), None, None)
    assert isinstance(refused, Reply) and refusal_code(refused) == "dsp.invalid_message"
    offer = ContractOfferMessage(provider_pid=PEER_PID, offer=dict(OFFER), callback_address="not a url")
    refused = negotiations.initial_offer(received(offer, PROVIDER, None), consumer_context(), None)
    assert isinstance(refused, Reply) and (refused.status, refusal_code(refused)) == (400, "dsp.invalid_message")
    offer = ContractOfferMessage(provider_pid=PEER_PID, offer=dict(OFFER), callback_address=PROVIDER_DSP)
    misrouted = negotiations.initial_offer(received(offer, PROVIDER, "urn:uuid:x"), consumer_context(), None)
    assert isinstance(misrouted, Reply) and refusal_code(misrouted) == "dsp.negotiation.misrouted"


def test_a_providers_first_offer_starts_a_negotiation_owing_its_consideration() -> None:
    offer = ContractOfferMessage(provider_pid=PEER_PID, offer=dict(OFFER), callback_address=PROVIDER_DSP)
    outcome = negotiations.initial_offer(received(offer, PROVIDER, None), consumer_context(), None)
    assert isinstance(outcome, Outcome)
    assert_outcome_valid(outcome)
    neg = outcome.record
    assert (neg.role, neg.state, neg.provider_pid, neg.consumer_pid, neg.id) == (
        Role.CONSUMER,
        S.OFFERED,
        PEER_PID,
        "urn:uuid:id-1",
        "urn:uuid:id-1",
    )
    assert outcome.pending == pending.CONSIDER_OFFER and outcome.reply is not None and outcome.reply.status == 201
    assert outcome.history[0].why == "the provider offered a contract"
    again = negotiations.initial_offer(received(offer, PROVIDER, None), consumer_context(), neg)
    assert isinstance(again, Reply) and (again.status, again.process_id) == (201, neg.id)


def test_a_script_chooses_the_step_owed_after_a_message() -> None:
    script = Script({"ContractRequestMessage:initial": pending.OFFER, "ContractNegotiationEventMessage:ACCEPTED": None})
    outcome = negotiations.initial_request(
        received(initial_request(), CONSUMER, None), provider_context(script), None, None
    )
    assert isinstance(outcome, Outcome) and outcome.pending == pending.OFFER
    neg = negotiation(Role.PROVIDER, S.OFFERED)
    accepted = take(neg, received(message_to(neg, M.ACCEPTED), CONSUMER), ctx=provider_context(script))
    assert isinstance(accepted, Outcome) and accepted.pending is None and accepted.state == "ACCEPTED"
    assert script.asked[-1][1].state == S.ACCEPTED  # the script sees the negotiation as it became


# --- messages with more to them ---------------------------------------------------------------------------------


def test_a_counter_request_replaces_the_offer_and_keeps_the_purpose_unless_it_names_one() -> None:
    neg = negotiation(Role.PROVIDER, S.OFFERED, purpose="research")
    counter = ContractRequestMessage(provider_pid=OUR_PID, consumer_pid=PEER_PID, offer={**OFFER, "@id": "mine"})
    outcome = take(neg, received(counter, CONSUMER))
    assert isinstance(outcome, Outcome)
    assert (outcome.record.offer_id, outcome.record.purpose) == ("mine", "research")
    assert outcome.history[0].cause == "received ContractRequestMessage (counter-offer)"
    counter = ContractRequestMessage(
        provider_pid=OUR_PID, consumer_pid=PEER_PID, offer=dict(OFFER), extensions={"purpose": "teaching"}
    )
    outcome = take(neg, received(counter, CONSUMER))
    assert isinstance(outcome, Outcome) and outcome.record.purpose == "teaching"


def test_a_received_agreement_is_stored_with_what_the_signer_found() -> None:
    neg = negotiation(Role.CONSUMER, S.REQUESTED, provider_pid=None, claims={"old": True})
    policy = agreement().policy
    message = ContractAgreementMessage(provider_pid=PEER_PID, consumer_pid=OUR_PID, agreement=policy)
    facts = Facts(signature_detail={"providerSignature": "verified", "signer": PROVIDER})
    outcome = take(neg, received(message, PROVIDER, claims={"new": True}), facts)
    assert isinstance(outcome, Outcome) and outcome.agreement is not None
    stored = outcome.agreement
    assert (stored.id, stored.negotiation_id, stored.provider_id, stored.consumer_id, stored.dataset_id) == (
        AGREEMENT_ID,
        OUR_PID,
        PROVIDER,
        CONSUMER,
        DATASET,
    )
    assert stored.concluded_at.isoformat() == "2030-01-01T00:00:00+00:00" and not stored.finalized
    assert stored.provider_address == PROVIDER_DSP and stored.policy == policy
    assert outcome.record.agreement_id == AGREEMENT_ID and outcome.record.claims == {"new": True}
    assert outcome.history[0].detail == {"agreement": AGREEMENT_ID, "providerSignature": "verified", "signer": PROVIDER}


def test_an_agreement_without_an_id_or_of_another_negotiation_is_refused() -> None:
    neg = negotiation(Role.CONSUMER, S.REQUESTED)
    policy = {k: v for k, v in agreement().policy.items() if k != "@id"}
    message = ContractAgreementMessage(provider_pid=PEER_PID, consumer_pid=OUR_PID, agreement=policy)
    refused = negotiations.agreement_refused(neg, message, None)
    assert refused is not None and (refused.status, refusal_code(refused)) == (400, "dsp.invalid_message")
    message = ContractAgreementMessage(provider_pid=PEER_PID, consumer_pid=OUR_PID, agreement=agreement().policy)
    other = agreement(negotiation_id="urn:uuid:another")
    refused = negotiations.agreement_refused(neg, message, other)
    assert refused is not None and refusal_code(refused) == "dsp.negotiation.duplicate_agreement"
    assert negotiations.agreement_refused(neg, message, agreement(negotiation_id=OUR_PID)) is None


def test_a_verification_with_an_unacceptable_countersignature_leaves_a_termination_owed() -> None:
    neg = negotiation(Role.PROVIDER, S.AGREED, agreement_id=AGREEMENT_ID)
    problem = Problem("agreement.signature", "the consumer's signature on the agreement is not acceptable: bad")
    script = Script({"ContractAgreementVerificationMessage": pending.FINALIZE})
    outcome = take(
        neg,
        received(message_to(neg, M.VERIFICATION), CONSUMER),
        Facts(signature_problem=problem),
        provider_context(script),
    )
    assert isinstance(outcome, Outcome) and outcome.state == "VERIFIED"
    assert outcome.pending == pending.terminate(problem.reason)
    assert outcome.record.pending == "terminate:" + problem.reason
    assert not script.asked  # a refused countersignature is not the script's to overrule


def test_a_termination_by_the_peer_drops_what_we_queued_and_keeps_its_reason() -> None:
    neg = negotiation(Role.CONSUMER, S.AGREED, pending="verify")
    message = ContractNegotiationTerminationMessage(
        provider_pid=PEER_PID, consumer_pid=OUR_PID, code="policy", reason=({"message": "not today"}, "sorry")
    )
    outcome = take(neg, received(message, PROVIDER), Facts(queued=3))
    assert isinstance(outcome, Outcome) and outcome.drop_queued
    reason = "the peer terminated the negotiation: not today; sorry (code policy)"
    assert outcome.record.reason == reason and outcome.record.pending is None
    assert outcome.history[0].why == reason
    assert outcome.history[0].detail == {
        "code": "policy",
        "reason": [{"message": "not today"}, "sorry"],
        "undelivered_messages_dropped": 3,
    }


# --- our moves (pending steps) ----------------------------------------------------------------------------------


def perform(neg: Any, facts: Facts = NO_FACTS, script: Any = None) -> Outcome:
    ctx = provider_context(script) if neg.role == Role.PROVIDER else consumer_context(script)
    outcome = negotiations.perform(neg, facts, ctx)
    assert_outcome_valid(outcome)
    assert outcome.changed and outcome.record.pending != neg.pending
    return outcome


def test_decide_agrees_to_a_request_an_offer_of_ours_permits_and_the_agreement_is_signed() -> None:
    neg = negotiation(Role.PROVIDER, S.REQUESTED, pending="decide")
    outcome = perform(neg, Facts(offered=offered()))
    assert outcome.state == "AGREED" and outcome.pending is None
    (policy_decided,) = outcome.evidence
    assert policy_decided.kind == "policy.decided" and policy_decided.data["permitted"] is True
    assert policy_decided.data["stage"] == "negotiation"
    decided, sent = outcome.history
    assert decided.cause == "contract policy decided" and decided.detail["matchedOffer"] == "weather-offer"
    assert sent.cause == "sent ContractAgreementMessage" and (sent.from_state, sent.to_state) == ("REQUESTED", "AGREED")
    (message,) = outcome.messages
    assert message.url == f"{CONSUMER_DSP}/negotiations/{PEER_PID}/agreement"
    assert message.body["@id"] == "urn:uuid:id-2" and list(message.body)[:3] == ["@context", "@type", "@id"]
    the_agreement = message.body["agreement"]
    assert the_agreement["@id"] == "urn:uuid:id-1" == outcome.record.agreement_id
    assert (the_agreement["assigner"], the_agreement["assignee"], the_agreement["target"]) == (
        PROVIDER,
        CONSUMER,
        DATASET,
    )
    assert the_agreement["timestamp"] == "2030-01-02T03:04:05Z"
    assert message.signing == SignAgreement(the_agreement)
    assert outcome.agreement is not None and outcome.agreement.policy == the_agreement
    assert outcome.agreement.concluded_at == NOW.replace(microsecond=0)
    assert sent.detail == {"agreement": "urn:uuid:id-1", "matchedOffer": "weather-offer"}


def test_decide_refuses_a_request_no_offer_permits_and_tells_the_consumer() -> None:
    neg = negotiation(Role.PROVIDER, S.REQUESTED, pending="decide")
    outcome = perform(neg, Facts(offered=()))
    assert outcome.state == "TERMINATED" and outcome.record.reason.startswith("contract refused: ")
    assert outcome.drop_queued and outcome.agreement is None
    (message,) = outcome.messages
    assert message.body["@type"] == "ContractNegotiationTerminationMessage"
    assert message.body["code"] == "policy.refused" and message.body["reason"] == [outcome.record.reason]
    assert message.url == f"{CONSUMER_DSP}/negotiations/{PEER_PID}/termination"
    assert [h.cause for h in outcome.history] == [
        "contract policy decided",
        "sent ContractNegotiationTerminationMessage",
    ]


def test_agree_checks_an_accepted_offer_again_unless_a_script_decides() -> None:
    neg = negotiation(Role.PROVIDER, S.ACCEPTED, pending="agree")
    assert perform(neg, Facts(offered=offered())).state == "AGREED"
    refused = perform(neg, Facts(offered=()))
    assert refused.state == "TERMINATED" and refused.history[0].cause == "contract policy decided"
    assert not refused.evidence  # the decision on an accepted offer is in the history only
    scripted = perform(negotiation(Role.PROVIDER, S.REQUESTED, pending="agree"), Facts(offered=()), Script())
    assert scripted.state == "AGREED" and [h.cause for h in scripted.history] == ["sent ContractAgreementMessage"]


def test_finalize_sends_the_event_and_makes_the_agreement_final() -> None:
    outcome = perform(negotiation(Role.PROVIDER, S.VERIFIED, pending="finalize", agreement_id=AGREEMENT_ID))
    assert outcome.state == "FINALIZED" and outcome.finalizes_agreement
    (message,) = outcome.messages
    assert message.body["eventType"] == "FINALIZED" and message.url.endswith(f"/negotiations/{PEER_PID}/events")


def test_offer_counters_with_the_datasets_offer_or_the_one_on_the_table() -> None:
    neg = negotiation(Role.PROVIDER, S.REQUESTED, pending="offer", offer={**OFFER, "@id": "asked"})
    outcome = perform(neg, Facts(offered=offered({"permission": [{"action": "read"}]})))
    assert outcome.state == "OFFERED" and outcome.record.offer_id == "weather-offer"
    assert outcome.messages[0].body["offer"]["permission"] == [{"action": "read"}]
    assert perform(neg, Facts(offered=())).record.offer_id == "asked"


def test_consider_offer_accepts_what_we_asked_for_and_leaves_anything_else_to_a_person() -> None:
    same = perform(negotiation(Role.CONSUMER, S.OFFERED, pending="consider-offer"))
    assert same.state == "ACCEPTED" and same.messages[0].body["eventType"] == "ACCEPTED"
    assert same.messages[0].url == f"{PROVIDER_DSP}/negotiations/{PEER_PID}/events"
    other = perform(negotiation(Role.CONSUMER, S.OFFERED, pending="consider-offer", offer={**OFFER, "permission": []}))
    assert other.state == "OFFERED" and not other.messages and other.pending is None
    assert other.history[0].cause == "offer awaits a decision"


def test_counter_sends_the_offer_on_the_table_as_our_request() -> None:
    offer = {"@id": "x", "@type": "Offer", "permission": [{"action": "use"}]}
    outcome = perform(negotiation(Role.CONSUMER, S.OFFERED, pending="counter", offer=offer))
    assert outcome.state == "REQUESTED"
    assert outcome.record.requested == {**offer, "target": DATASET}
    assert outcome.messages[0].url == f"{PROVIDER_DSP}/negotiations/{PEER_PID}/request"


def test_verify_sends_the_countersigned_verification_of_an_agreement_as_requested() -> None:
    held = agreement()
    outcome = perform(negotiation(Role.CONSUMER, S.AGREED, pending="verify"), Facts(agreement=held))
    assert outcome.state == "VERIFIED" and outcome.messages[0].signing == Countersign(held)
    assert outcome.history[0].cause == "agreement checked against the request"
    assert outcome.messages[0].url == f"{PROVIDER_DSP}/negotiations/{PEER_PID}/agreement/verification"


@pytest.mark.parametrize(
    ("facts", "code"),
    [
        (Facts(agreement=None), "terminated"),
        (Facts(agreement=agreement({"permission": [{"action": "read"}]})), "agreement.mismatch"),
        (
            Facts(agreement=agreement(), signature_problem=Problem("agreement.unsigned", "unsigned")),
            "agreement.unsigned",
        ),
    ],
    ids=["missing", "not-as-requested", "signature"],
)
def test_verify_terminates_instead_when_the_agreement_is_not_acceptable(facts: Facts, code: str) -> None:
    outcome = perform(negotiation(Role.CONSUMER, S.AGREED, pending="verify"), facts)
    assert outcome.state == "TERMINATED" and outcome.messages[0].body["code"] == code


def test_verify_under_a_script_checks_nothing() -> None:
    facts = Facts(agreement=agreement({"permission": [{"action": "read"}]}), signature_problem=Problem("x", "y"))
    outcome = perform(negotiation(Role.CONSUMER, S.AGREED, pending="verify"), facts, Script())
    assert outcome.state == "VERIFIED" and [h.cause for h in outcome.history] == [
        "sent ContractAgreementVerificationMessage"
    ]


def test_terminate_tells_the_peer_or_ends_alone_while_the_peer_does_not_know_the_process() -> None:
    told = perform(negotiation(Role.PROVIDER, S.OFFERED, pending="terminate:enough"))
    assert (
        told.state == "TERMINATED" and told.record.reason == "enough" and told.messages[0].body["reason"] == ["enough"]
    )
    alone = perform(negotiation(Role.CONSUMER, S.REQUESTED, pending="terminate", provider_pid=None))
    assert alone.state == "TERMINATED" and not alone.messages and alone.drop_queued
    assert alone.record.reason == "terminated by this participant" and alone.history[0].cause == "terminated"


def test_a_step_the_machine_does_not_allow_now_is_noted_not_taken() -> None:
    outcome = perform(negotiation(Role.PROVIDER, S.AGREED, pending="finalize"))
    assert outcome.state == "AGREED" and outcome.pending is None and not outcome.messages
    (entry,) = outcome.history
    assert entry.cause == "step 'finalize' not taken" and "not allowed in state AGREED" in (entry.why or "")


def test_an_unknown_step_ends_the_negotiation() -> None:
    outcome = perform(negotiation(Role.PROVIDER, S.REQUESTED, pending="dance:slowly"))
    assert outcome.state == "TERMINATED" and outcome.record.reason == "internal: unknown step 'dance'"
    outcome = perform(negotiation(Role.PROVIDER, S.REQUESTED, pending="start"))  # a transfer's step
    assert outcome.record.reason == "internal: unknown step 'start'"


def test_pending_steps_are_stored_as_their_names_with_the_reason() -> None:
    for step in StepName:
        assert PendingStep.decode(step.value) == PendingStep(step)
    assert pending.terminate("a: b").encode() == "terminate:a: b"
    assert PendingStep.decode("terminate:a: b") == PendingStep(StepName.TERMINATE, "a: b")
    assert PendingStep.decode("terminate:") == PendingStep(StepName.TERMINATE, "")
    assert PendingStep.decode("terminate:").encode() == "terminate:"
    assert PendingStep.decode("nothing") is None


# --- commands ---------------------------------------------------------------------------------------------------


def test_start_refuses_an_offer_whose_duties_this_node_cannot_fulfil() -> None:
    def start(duty: dict[str, Any]) -> Outcome:
        offer = {"@id": "o", "permission": [{"action": "use", "duty": [duty]}]}
        return negotiations.start(consumer_context(), PROVIDER, PROVIDER_DSP, offer, DATASET, None, CONSUMER_DSP)

    with pytest.raises(ConnectorError) as refused:
        start({"action": "compensate"})
    assert refused.value.code == "policy.unfulfillable_duty" and refused.value.where == "permission[0].duty[0]"
    assert "the offer imposes a duty this node cannot fulfil" in refused.value.reason
    assert start({"action": "inform"}).record.state == S.REQUESTED


def test_start_queues_the_request_for_the_provider() -> None:
    outcome = negotiations.start(
        consumer_context(),
        PROVIDER,
        PROVIDER_DSP + "/",
        {"@id": "o", "permission": [{"action": "use"}]},
        DATASET,
        "research",
        CONSUMER_DSP,
    )
    assert_outcome_valid(outcome)
    neg = outcome.record
    assert (neg.id, neg.consumer_pid, neg.provider_pid, neg.state, neg.peer_address) == (
        "urn:uuid:id-1",
        "urn:uuid:id-1",
        None,
        S.REQUESTED,
        PROVIDER_DSP,
    )
    # The purpose is declared in the requested policy, as ODRL states one (a top-level member would be dropped by
    # JSON-LD expansion: the DSP context does not define it).
    declared = {"leftOperand": "odrl:purpose", "operator": "eq", "rightOperand": "research"}
    assert (
        neg.offer
        == neg.requested
        == {
            "@id": "o",
            "permission": [{"action": "use", "constraint": [declared]}],
            "target": DATASET,
            "@type": "Offer",
        }
    )
    assert neg.purpose == "research"
    (message,) = outcome.messages
    assert message.url == f"{PROVIDER_DSP}/negotiations/request" and "@id" not in message.body
    assert message.body["callbackAddress"] == CONSUMER_DSP and "purpose" not in message.body
    assert message.body["offer"] == neg.offer
    (entry,) = outcome.history
    assert (entry.from_state, entry.to_state, entry.cause) == (None, "REQUESTED", "sent ContractRequestMessage")
    assert entry.detail == {"offer": "o", "dataset": DATASET, "provider": PROVIDER}


def test_commands_terminate_or_accept() -> None:
    neg = negotiation(Role.CONSUMER, S.OFFERED, pending="consider-offer")
    ctx = consumer_context()
    ended = negotiations.command(neg, OUR_PID, "terminate", None, NO_FACTS, ctx)
    assert ended.state == "TERMINATED" and ended.record.reason == "terminated by this participant"
    accepted = negotiations.command(neg, OUR_PID, "accept", None, NO_FACTS, ctx)
    assert accepted.state == "ACCEPTED" and accepted.record.pending == "consider-offer"  # a command owes nothing
    for record, action, code in [
        (None, "terminate", "negotiation.not_found"),
        (negotiation(Role.CONSUMER, S.FINALIZED), "terminate", "negotiation.invalid_state"),
        (negotiation(Role.PROVIDER, S.OFFERED), "accept", "negotiation.invalid_state"),
        (neg, "dance", "negotiation.bad_command"),
    ]:
        with pytest.raises(ConnectorError) as refused:
            negotiations.command(record, OUR_PID, action, None, NO_FACTS, ctx)
        assert refused.value.code == code


def test_accept_refuses_an_offer_whose_duties_this_node_cannot_fulfil() -> None:
    offer = {**OFFER, "permission": [{"action": "use", "duty": [{"action": "compensate"}]}]}
    neg = negotiation(Role.CONSUMER, S.OFFERED, pending="consider-offer", offer=offer)
    with pytest.raises(ConnectorError) as refused:
        negotiations.command(neg, OUR_PID, "accept", None, NO_FACTS, consumer_context())
    assert refused.value.code == "policy.unfulfillable_duty" and refused.value.where == "permission[0].duty[0]"
    assert negotiations.command(neg, OUR_PID, "terminate", None, NO_FACTS, consumer_context()).state == "TERMINATED"


def test_received_events_are_values() -> None:
    event = Received(Peer(CONSUMER), object(), {})
    assert event.path_pid is None and event.peer.claims is None
