"""parse_message: official examples, the TCK's wire habits, and refusals that name the offending path."""

from __future__ import annotations

from typing import Any

import pytest

from connector.dsp.catalog_messages import Catalog, CatalogRequestMessage, DataService, Dataset
from connector.dsp.messages import MAX_DEPTH, MESSAGE_CLASSES, parse_as, parse_message
from connector.dsp.negotiation_messages import (
    ContractAgreementMessage,
    ContractNegotiationEventMessage,
    ContractNegotiationTerminationMessage,
    ContractOfferMessage,
    ContractRequestMessage,
)
from connector.dsp.transfer_messages import TransferRequestMessage, TransferStartMessage
from connector.dsp.vocabulary import DSP_CONTEXT, NegotiationEvent, NegotiationMessage
from connector.errors import ConnectorError


def _refusal(body: Any, expected: str | None = None) -> ConnectorError:
    with pytest.raises(ConnectorError) as caught:
        parse_message(body, expected)
    return caught.value


def test_official_example_parses_into_its_class_and_round_trips(message_example: tuple[str, Any]) -> None:
    _, document = message_example
    message = parse_message(document, expected=document["@type"])
    assert type(message) is MESSAGE_CLASSES[document["@type"]]
    assert message.to_json() == document
    assert parse_message(message.to_json()) == message


def test_official_examples_keep_no_unmodelled_property(message_example: tuple[str, Any]) -> None:
    # Every property of the official examples is modelled, so nothing lands in extensions at top level.
    _, document = message_example
    assert parse_message(document).extensions == {}


def test_initial_and_counter_requests_are_told_apart(examples: dict[str, Any]) -> None:
    initial = parse_as(examples["negotiation/contract-request-message_initial.json"], ContractRequestMessage)
    counter = parse_as(examples["negotiation/contract-request-message.json"], ContractRequestMessage)
    assert initial.is_initial and initial.callback_address == "https://example.com/callback"
    assert not counter.is_initial and counter.provider_pid == "urn:uuid:a343fcbf-99fc-4ce8-8e9b-148c97605aab"
    assert initial.kind is NegotiationMessage.REQUEST


def test_event_kind_includes_the_event_type(examples: dict[str, Any]) -> None:
    document = examples["negotiation/contract-negotiation-event-message.json"]
    accepted = parse_as(document, ContractNegotiationEventMessage)
    document["eventType"] = "FINALIZED"
    finalized = parse_as(document, ContractNegotiationEventMessage)
    assert accepted.event_type is NegotiationEvent.ACCEPTED and accepted.kind is NegotiationMessage.ACCEPTED
    assert finalized.kind is NegotiationMessage.FINALIZED


def test_tck_style_request_with_plain_ids_and_extra_keys_is_accepted() -> None:
    body = {
        "@context": [DSP_CONTEXT],
        "@type": "ContractRequestMessage",
        "@id": "5f1e34b5-0a0c-4a3e-9d6f-3a6c2a0e5a11",
        "consumerPid": "0d1f4f8e-5a7b-4c36-a1f6-4ce07cbb6e9c",
        "offer": {
            "@id": "CD123:ACN0101:456",
            "@type": "Offer",
            "target": "ACN0101",
            "assigner": "TCK_PARTICIPANT",
            "assignee": "CONNECTOR_UNDER_TEST",
            "permission": [{"action": "use"}],
        },
        "callbackAddress": "http://localhost:8083",
    }
    message = parse_as(body, ContractRequestMessage)
    assert message.message_id == "5f1e34b5-0a0c-4a3e-9d6f-3a6c2a0e5a11"
    assert message.offer["@id"] == "CD123:ACN0101:456" and message.offer["assigner"] == "TCK_PARTICIPANT"
    assert message.to_json() == body


def test_tck_agreement_with_callback_address_keeps_it_as_an_extension() -> None:
    body = {
        "@context": [DSP_CONTEXT],
        "@type": "ContractAgreementMessage",
        "providerPid": "ppid-1",
        "consumerPid": "cpid-1",
        "callbackAddress": "http://localhost:8083",
        "agreement": {
            "@id": "9a1b7c0e-1111-4c4c-8e8e-000000000001",
            "@type": "Agreement",
            "target": "ACNC0101",
            "assigner": "TCK_PARTICIPANT",
            "assignee": "CONNECTOR_UNDER_TEST",
            "timestamp": "2025-03-04T10:11:12.123Z",
            "permission": [{"action": "use"}],
        },
    }
    message = parse_as(body, ContractAgreementMessage)
    assert message.extensions == {"callbackAddress": "http://localhost:8083"}
    assert message.to_json() == body


def test_tck_termination_with_code_and_no_reason_parses() -> None:
    body = {
        "@context": [DSP_CONTEXT],
        "@type": "ContractNegotiationTerminationMessage",
        "providerPid": "p",
        "consumerPid": "c",
        "code": "1",
    }
    message = parse_as(body, ContractNegotiationTerminationMessage)
    assert message.code == "1" and message.reason == ()
    assert message.to_json() == body


def test_tck_start_message_with_pull_address_parses() -> None:
    body = {
        "@context": [DSP_CONTEXT],
        "@type": "TransferStartMessage",
        "providerPid": "tck-ppid",
        "consumerPid": "ours",
        "dataAddress": {
            "@type": "DataAddress",
            "endpoint": "http://example.com",
            "endpointType": "https://w3id.org/idsa/v4.1/HTTP",
        },
    }
    message = parse_as(body, TransferStartMessage)
    assert message.data_address is not None and message.data_address.endpoint == "http://example.com"
    assert message.data_address.endpoint_properties == ()
    assert message.to_json() == body


def test_extension_properties_such_as_a_signature_survive_a_round_trip(examples: dict[str, Any]) -> None:
    document = examples["negotiation/contract-agreement-message.json"]
    document["@context"] = [DSP_CONTEXT, "https://w3id.org/security/data-integrity/v2"]
    document["proof"] = {"type": "DataIntegrityProof", "proofValue": "z3FXQ"}
    document["agreement"]["signature"] = {"protected": "eyJhbGciOiJFUzI1NiJ9", "signature": "MEUCIQ"}
    message = parse_as(document, ContractAgreementMessage)
    assert message.extensions == {"proof": {"type": "DataIntegrityProof", "proofValue": "z3FXQ"}}
    assert message.context == (DSP_CONTEXT, "https://w3id.org/security/data-integrity/v2")
    assert message.to_json() == document


def test_parsed_message_does_not_share_state_with_the_body(examples: dict[str, Any]) -> None:
    document = examples["negotiation/contract-offer-message.json"]
    message = parse_as(document, ContractOfferMessage)
    document["offer"]["permission"].append({"action": "distribute"})
    emitted = message.to_json()
    emitted["offer"]["permission"].clear()
    assert len(message.offer["permission"]) == 1


def test_nested_catalog_is_parsed_into_nodes(examples: dict[str, Any]) -> None:
    catalog = parse_as(examples["catalog/nested-catalog.json"], Catalog)
    [inner] = catalog.catalogs
    assert inner.participant_id is None and inner.distributions[0].format == "Catalog"
    assert inner.services[0].endpoint_url == "https://provder-a.com/subcatalog"


def test_dataset_with_embedded_data_service_is_parsed(examples: dict[str, Any]) -> None:
    dataset = parse_as(examples["catalog/dataset.json"], Dataset)
    service = dataset.distributions[0].access_service
    assert isinstance(service, DataService) and service.endpoint_url == "https://provider-a.com/connector"


def test_filter_absent_and_empty_are_distinguished() -> None:
    bare = parse_as({"@context": [DSP_CONTEXT], "@type": "CatalogRequestMessage"}, CatalogRequestMessage)
    empty = parse_as({"@context": [DSP_CONTEXT], "@type": "CatalogRequestMessage", "filter": []}, CatalogRequestMessage)
    assert bare.filter is None and "filter" not in bare.to_json()
    assert empty.filter == () and empty.to_json()["filter"] == []


def test_type_as_array_is_refused_at_its_path(examples: dict[str, Any]) -> None:
    document = examples["transfer/transfer-request-message.json"]
    document["@type"] = ["TransferRequestMessage"]
    error = _refusal(document)
    assert (error.code, error.where) == ("dsp.invalid_message", "$['@type']")
    assert "not an array" in error.reason


@pytest.mark.parametrize(
    "spelling", ["dspace:TransferRequestMessage", "https://w3id.org/dspace/2025/1/TransferRequestMessage"]
)
def test_prefixed_or_expanded_type_is_refused_with_the_compact_term(examples: dict[str, Any], spelling: str) -> None:
    document = examples["transfer/transfer-request-message.json"]
    document["@type"] = spelling
    error = _refusal(document)
    assert (error.code, error.where) == ("dsp.invalid_message", "$['@type']")
    assert "'TransferRequestMessage'" in error.reason


def test_missing_type_is_refused() -> None:
    error = _refusal({"@context": [DSP_CONTEXT], "consumerPid": "c"})
    assert (error.code, error.where, error.reason) == ("dsp.invalid_message", "$['@type']", "the message has no @type")


def test_unknown_type_is_refused() -> None:
    error = _refusal({"@context": [DSP_CONTEXT], "@type": "ContractHandshakeMessage"})
    assert (error.code, error.where) == ("dsp.unknown_message_type", "$['@type']")


def test_message_for_another_endpoint_is_refused(examples: dict[str, Any]) -> None:
    error = _refusal(examples["negotiation/contract-offer-message.json"], expected="ContractRequestMessage")
    assert (error.code, error.where) == ("dsp.unexpected_message", "$['@type']")
    assert error.reason == "this endpoint accepts a ContractRequestMessage, not a ContractOfferMessage"


@pytest.mark.parametrize("body", [None, [], "ContractRequestMessage", 3, True])
def test_body_that_is_not_an_object_is_refused(body: Any) -> None:
    error = _refusal(body)
    assert (error.code, error.where) == ("dsp.invalid_message", "$")


def test_schema_failure_names_the_path_and_counts_the_rest(examples: dict[str, Any]) -> None:
    document = examples["transfer/transfer-request-message.json"]
    del document["agreementId"]
    document["dataAddress"]["endpointProperties"][1]["value"] = 42
    error = _refusal(document, expected="TransferRequestMessage")
    assert error.code == "dsp.invalid_message"
    assert error.where == "$.dataAddress.endpointProperties[1].value"
    assert error.reason == "invalid TransferRequestMessage: must be a string, not a number (and 1 more problem)"
    assert {
        "where": "$.agreementId",
        "reason": "the required property 'agreementId' is missing",
    } in error.problem.details["problems"]


def test_hostile_nesting_is_refused_before_validation() -> None:
    deep: Any = "x"
    for _ in range(5000):
        deep = [deep]
    body = {"@context": [DSP_CONTEXT], "@type": "CatalogRequestMessage", "filter": deep}
    error = _refusal(body)
    assert (error.code, error.where) == ("dsp.invalid_message", "$")
    assert str(MAX_DEPTH) in error.reason


def test_unknown_expected_type_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        parse_message({}, expected="Nonsense")


def test_transfer_request_for_push_keeps_its_data_address(examples: dict[str, Any]) -> None:
    message = parse_as(examples["transfer/transfer-request-message.json"], TransferRequestMessage)
    assert message.data_address is not None
    assert message.data_address.endpoint_property("authorization") == "TOKEN-ABCDEFG"
    assert message.data_address.endpoint_property("missing") is None
