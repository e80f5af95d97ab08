"""The moves negotiations and transfers make alike, as values: a delivery's outcome, a failed delivery, message
ids, the peer-facing answers of each kind of process."""

from __future__ import annotations

from typing import Any

import pytest
from stepkit import (
    CONSUMER_DSP,
    NOW,
    OUR_PID,
    PEER_PID,
    PROVIDER_DSP,
    Script,
    assert_valid,
    consumer_context,
    negotiation,
    provider_context,
    transfer,
)

from connector.control import pending, steps
from connector.control.facts import NO_FACTS, Facts
from connector.dsp.vocabulary import NegotiationState, Role, TransferState

FIRST_REQUEST = [
    (negotiation(Role.CONSUMER, NegotiationState.REQUESTED, provider_pid=None), "ContractRequestMessage"),
    (transfer(Role.CONSUMER, TransferState.REQUESTED, provider_pid=None), "TransferRequestMessage"),
]


@pytest.mark.parametrize(("record", "message_type"), FIRST_REQUEST, ids=["negotiation", "transfer"])
def test_the_answer_to_our_first_request_names_the_providers_pid(record: Any, message_type: str) -> None:
    outcome = steps.delivered(record, message_type, {"providerPid": "urn:uuid:p"}, NO_FACTS, consumer_context())
    assert outcome.changed and outcome.record.provider_pid == "urn:uuid:p" and outcome.record.updated_at == NOW
    (entry,) = outcome.history
    assert entry.cause == f"delivered {message_type}" and entry.from_state == entry.to_state == "REQUESTED"
    assert not outcome.messages and not outcome.evidence and outcome.pending is None


@pytest.mark.parametrize(("record", "message_type"), FIRST_REQUEST, ids=["negotiation", "transfer"])
def test_an_answer_naming_no_provider_pid_ends_the_process(record: Any, message_type: str) -> None:
    outcome = steps.delivered(record, message_type, {"state": "REQUESTED"}, NO_FACTS, consumer_context())
    assert outcome.state == "TERMINATED"
    (entry,) = outcome.history
    why = f"the provider's answer to our {message_type} names no providerPid"
    assert (entry.cause, entry.why) == ("delivery failed", why)
    # As it always was: a negotiation keeps the reason on its record, a transfer only in its history.
    assert outcome.record.reason == (why if message_type == "ContractRequestMessage" else None)


def test_a_later_delivery_is_noted_only() -> None:
    record = negotiation(Role.PROVIDER, NegotiationState.AGREED, pending="finalize")
    outcome = steps.delivered(record, "ContractAgreementMessage", None, NO_FACTS, provider_context())
    assert not outcome.changed and outcome.record == record
    assert [h.cause for h in outcome.history] == ["delivered ContractAgreementMessage"]


def test_a_script_may_owe_a_step_after_a_delivery_counting_the_earlier_ones() -> None:
    script = Script(delivered={("TransferStartMessage", 0): pending.SUSPEND, ("TransferStartMessage", 1): None})
    record = transfer(Role.PROVIDER, TransferState.STARTED)
    first = steps.delivered(record, "TransferStartMessage", {}, NO_FACTS, provider_context(script))
    assert first.changed and first.pending == pending.SUSPEND
    later = steps.delivered(record, "TransferStartMessage", {}, Facts(delivered_before=1), provider_context(script))
    assert not later.changed and later.pending is None
    ended = transfer(Role.PROVIDER, TransferState.TERMINATED)
    assert steps.delivered(ended, "TransferStartMessage", {}, NO_FACTS, provider_context(script)).pending is None


@pytest.mark.parametrize(
    "record",
    [
        negotiation(Role.CONSUMER, NegotiationState.AGREED, pending="verify"),
        transfer(Role.PROVIDER, TransferState.STARTED),
    ],
    ids=["negotiation", "transfer"],
)
def test_a_failed_delivery_ends_the_process_with_its_reason_and_tells_the_peer(record: Any) -> None:
    outcome = steps.delivery_failed(record, "the peer refused our message with 409", provider_context())
    assert outcome.state == "TERMINATED" and outcome.record.reason == "the peer refused our message with 409"
    assert outcome.record.pending is None and outcome.drop_queued  # what was still queued goes, the farewell stays
    (farewell,) = outcome.messages
    kind = steps.kind_of(record)
    assert farewell.url == f"{record.peer_address}/{kind.path}/{PEER_PID}/termination"
    assert farewell.body["@type"] == kind.termination_message.TYPE and farewell.body["code"] == "delivery.failed"
    assert farewell.body["reason"] == ["the peer refused our message with 409"]
    assert_valid(farewell.body)
    (entry,) = outcome.history
    assert entry.cause == "delivery failed" and entry.changes_state


def test_a_failed_delivery_of_a_process_the_peer_never_named_ends_it_without_a_word() -> None:
    record = negotiation(Role.CONSUMER, NegotiationState.REQUESTED, provider_pid=None)
    outcome = steps.delivery_failed(record, "cannot reach the provider", consumer_context())
    assert outcome.state == "TERMINATED" and not outcome.messages


def test_messages_get_an_id_after_their_type_and_keep_the_one_they_have() -> None:
    ids = iter(["urn:uuid:1", "urn:uuid:2"])
    body = {"@context": ["x"], "@type": "T", "a": 1}
    assert list(steps.with_message_id(body, lambda: next(ids))) == ["@context", "@type", "@id", "a"]
    kept = {"@id": "urn:uuid:mine", "@type": "T"}
    assert steps.with_message_id(kept) is kept
    assert steps.with_message_id({"a": 1}, lambda: "urn:uuid:z") == {"a": 1, "@id": "urn:uuid:z"}


@pytest.mark.parametrize(
    ("record", "url"),
    [
        (negotiation(Role.PROVIDER, NegotiationState.AGREED), f"{CONSUMER_DSP}/negotiations/{PEER_PID}/events"),
        (negotiation(Role.CONSUMER, NegotiationState.AGREED), f"{PROVIDER_DSP}/negotiations/{PEER_PID}/events"),
        (transfer(Role.PROVIDER, TransferState.STARTED), f"{CONSUMER_DSP}/transfers/{PEER_PID}/events"),
    ],
)
def test_messages_about_a_process_go_under_the_peers_pid(record: Any, url: str) -> None:
    assert steps.kind_of(record).url(record, "events") == url


@pytest.mark.parametrize("kind", [steps.NEGOTIATION, steps.TRANSFER], ids=lambda k: k.name)
def test_each_kind_answers_peers_in_its_own_dsp_bodies(kind: steps.ProcessKind) -> None:
    record = (
        negotiation(Role.PROVIDER, NegotiationState.AGREED)
        if kind is steps.NEGOTIATION
        else transfer(Role.PROVIDER, TransferState.STARTED)
    )
    ack = kind.ack(record, 201)
    assert (ack.status, ack.process_id, ack.body["providerPid"], ack.body["consumerPid"]) == (
        201,
        OUR_PID,
        OUR_PID,
        PEER_PID,
    )
    missing = kind.not_found("urn:uuid:x")
    assert missing.status == 404 and missing.process_id is None
    assert missing.body["code"] == f"dsp.{kind.name}.not_found" and "'urn:uuid:x'" in missing.body["reason"][0]
    for reply in (ack, missing):
        assert_valid(reply.body)
