"""The vendored official files and validation against them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connector.dsp.schemas import SCHEMA_FILES, context_document, json_path, spec_root, validate, validator
from connector.dsp.vocabulary import DSP_CONTEXT, DSP_NAMESPACE, ODRL_PROFILE_CONTEXT
from connector.errors import ConnectorError

# Which official schema each official example is an instance of.
EXAMPLE_SCHEMA = {
    "catalog/catalog-error.json": "CatalogError",
    "catalog/catalog-request-message.json": "CatalogRequestMessage",
    "catalog/catalog.json": "Catalog",
    "catalog/dataset-request-message.json": "DatasetRequestMessage",
    "catalog/dataset.json": "Dataset",
    "catalog/nested-catalog.json": "Catalog",
    "common/catalogservice-did-service.json": "DidService",
    "common/dataservice-did-service.json": "DidService",
    "common/protocol-version.json": "VersionResponse",
    "negotiation/contract-agreement-message-full.json": "ContractAgreementMessage",
    "negotiation/contract-agreement-message.json": "ContractAgreementMessage",
    "negotiation/contract-agreement-verification-message.json": "ContractAgreementVerificationMessage",
    "negotiation/contract-negotiation-error.json": "ContractNegotiationError",
    "negotiation/contract-negotiation-event-message.json": "ContractNegotiationEventMessage",
    "negotiation/contract-negotiation-termination-message.json": "ContractNegotiationTerminationMessage",
    "negotiation/contract-negotiation.json": "ContractNegotiation",
    "negotiation/contract-offer-message.json": "ContractOfferMessage",
    "negotiation/contract-offer-message_initial.json": "ContractOfferMessage",
    "negotiation/contract-request-message.json": "ContractRequestMessage",
    "negotiation/contract-request-message_initial.json": "ContractRequestMessage",
    "transfer/transfer-completion-message.json": "TransferCompletionMessage",
    "transfer/transfer-error.json": "TransferError",
    "transfer/transfer-process.json": "TransferProcess",
    "transfer/transfer-request-message.json": "TransferRequestMessage",
    "transfer/transfer-start-message.json": "TransferStartMessage",
    "transfer/transfer-suspension-message.json": "TransferSuspensionMessage",
    "transfer/transfer-termination-message.json": "TransferTerminationMessage",
}
# Upstream quirk: its serviceEndpoint lacks the "/catalog" suffix its own schema demands.
KNOWN_BAD_EXAMPLE = "common/dataservice-did-service.json"


def _problems(kind: str, document: Any) -> list[tuple[str | None, str]]:
    return [(p.where, p.reason) for p in validate(kind, document)]


def test_every_vendored_example_has_a_schema_assigned(examples: dict[str, Any]) -> None:
    assert set(examples) == set(EXAMPLE_SCHEMA)
    assert len(examples) == 27


def test_official_example_validates_against_its_schema(official_example: tuple[str, Any]) -> None:
    name, document = official_example
    problems = validate(EXAMPLE_SCHEMA[name], document)
    if name == KNOWN_BAD_EXAMPLE:
        assert [p.where for p in problems] == ["$.serviceEndpoint"]
    else:
        assert problems == []


def test_dataservice_did_example_fails_on_the_documented_catalog_suffix_pattern(examples: dict[str, Any]) -> None:
    problems = validate("DidService", examples[KNOWN_BAD_EXAMPLE])
    assert [(p.where, p.details["keyword"]) for p in problems] == [("$.serviceEndpoint", "pattern")]
    assert "/catalog$" in problems[0].reason


def test_vendored_schema_ids_mirror_their_file_paths() -> None:
    for kind, relative in SCHEMA_FILES.items():
        schema = json.loads((spec_root() / "schemas" / relative).read_text(encoding="utf-8"))
        assert schema["$id"] == DSP_NAMESPACE + relative, kind
        assert schema["$schema"] == "https://json-schema.org/draft/2019-09/schema"


def test_vendored_files_keep_the_upstream_fragment_quirk_that_loading_repairs() -> None:
    # The files stay unmodified; the repair happens in memory, so TransferError still validates.
    raw = (spec_root() / "schemas" / "transfer" / "transfer-error-schema.json").read_text(encoding="utf-8")
    assert "#definitions/AbstractTransferCodeMessage" in raw
    assert _problems("TransferError", {"@context": [DSP_CONTEXT], "@type": "TransferError"}) == [
        ("$.providerPid", "the required property 'providerPid' is missing"),
        ("$.consumerPid", "the required property 'consumerPid' is missing"),
    ]


def test_licence_and_notice_ship_with_the_vendored_files() -> None:
    licence = (spec_root() / "LICENSE").read_text(encoding="utf-8")
    notice = (spec_root() / "NOTICE.md").read_text(encoding="utf-8")
    assert licence.split()[:4] == ["Apache", "License", "Version", "2.0,"]
    assert "6d458834cab8011a18d65a7b56a9a1fac9b516e0" in notice
    assert "eclipse-dataspace-protocol-base/DataspaceProtocol" in notice


def test_both_official_contexts_load_offline() -> None:
    assert context_document(DSP_CONTEXT)["@context"]["dspace"] == DSP_NAMESPACE
    assert "odrl" in context_document(ODRL_PROFILE_CONTEXT)["@context"]
    with pytest.raises(ConnectorError) as caught:
        context_document("https://example.com/other.jsonld")
    assert caught.value.code == "dsp.unknown_context"


def test_validators_are_compiled_once_per_kind() -> None:
    assert validator("ContractRequestMessage") is validator("ContractRequestMessage")


def test_unknown_schema_kind_is_a_connector_error() -> None:
    with pytest.raises(ConnectorError) as caught:
        validate("NoSuchMessage", {})
    assert caught.value.code == "dsp.unknown_schema"


def test_missing_property_is_reported_at_its_own_path(examples: dict[str, Any]) -> None:
    document = examples["negotiation/contract-request-message.json"]
    del document["offer"]["@id"]
    assert _problems("ContractRequestMessage", document) == [
        ("$.offer['@id']", "the required property '@id' is missing")
    ]


def test_wrong_type_names_expected_and_found_json_types(examples: dict[str, Any]) -> None:
    document = examples["negotiation/contract-negotiation.json"]
    document["providerPid"] = 7
    assert _problems("ContractNegotiation", document) == [("$.providerPid", "must be a string, not a number")]


def test_type_array_is_refused_at_the_type_path(examples: dict[str, Any]) -> None:
    document = examples["transfer/transfer-process.json"]
    document["@type"] = ["TransferProcess"]
    assert ("$['@type']", "must be a string, not an array") in _problems("TransferProcess", document)


def test_context_without_the_dsp_url_is_refused(examples: dict[str, Any]) -> None:
    document = examples["transfer/transfer-process.json"]
    document["@context"] = ["https://example.com/context.jsonld"]
    assert _problems("TransferProcess", document) == [("$['@context']", f'must contain "{DSP_CONTEXT}"')]


def test_context_as_a_bare_string_is_refused(examples: dict[str, Any]) -> None:
    document = examples["transfer/transfer-process.json"]
    document["@context"] = DSP_CONTEXT
    assert ("$['@context']", "must be an array, not a string") in _problems("TransferProcess", document)


def test_unknown_state_lists_the_allowed_ones(examples: dict[str, Any]) -> None:
    document = examples["transfer/transfer-process.json"]
    document["state"] = "PAUSED"
    [(where, reason)] = _problems("TransferProcess", document)
    assert where == "$.state"
    assert reason.startswith('must be one of "REQUESTED", "STARTED"') and reason.endswith('not "PAUSED"')


def test_request_with_both_provider_pid_and_callback_is_refused(examples: dict[str, Any]) -> None:
    document = examples["negotiation/contract-request-message.json"]
    document["callbackAddress"] = "https://consumer.example/callback"
    assert _problems("ContractRequestMessage", document) == [
        ("$", "only one of 'callbackAddress' and 'providerPid' may be present, not several")
    ]


def test_request_with_neither_provider_pid_nor_callback_is_refused(examples: dict[str, Any]) -> None:
    document = examples["negotiation/contract-request-message.json"]
    del document["providerPid"]
    assert _problems("ContractRequestMessage", document) == [
        ("$", "exactly one of 'callbackAddress' or 'providerPid' must be present")
    ]


def test_offer_in_a_dataset_must_not_carry_a_target(examples: dict[str, Any]) -> None:
    document = examples["catalog/dataset.json"]
    document["hasPolicy"][0]["target"] = document["@id"]
    assert _problems("Dataset", document) == [("$.hasPolicy[0].target", "the property 'target' is not allowed here")]


def test_deep_constraint_error_is_explained_from_the_branch_that_got_furthest(examples: dict[str, Any]) -> None:
    document = examples["negotiation/contract-agreement-message-full.json"]
    del document["agreement"]["permission"][1]["constraint"][0]["and"][1]["operator"]
    assert _problems("ContractAgreementMessage", document) == [
        ("$.agreement.permission[1].constraint[0].and[1].operator", "the required property 'operator' is missing")
    ]


def test_right_operand_of_the_wrong_type_lists_every_allowed_type(examples: dict[str, Any]) -> None:
    document = examples["negotiation/contract-agreement-message.json"]
    document["agreement"]["permission"][0]["constraint"][0]["rightOperand"] = 5
    assert _problems("ContractAgreementMessage", document) == [
        (
            "$.agreement.permission[0].constraint[0].rightOperand",
            "must be a string, an object or an array, not a number",
        )
    ]


def test_embedded_data_service_without_endpoint_is_explained(examples: dict[str, Any]) -> None:
    document = examples["catalog/dataset.json"]
    del document["distribution"][0]["accessService"]["endpointURL"]
    assert _problems("Dataset", document) == [
        ("$.distribution[0].accessService.endpointURL", "the required property 'endpointURL' is missing")
    ]


def test_offer_without_any_rule_is_refused(examples: dict[str, Any]) -> None:
    document = examples["negotiation/contract-offer-message.json"]
    del document["offer"]["permission"]
    assert _problems("ContractOfferMessage", document) == [
        ("$.offer", "at least one of 'permission' or 'prohibition' must be present")
    ]


def test_every_problem_names_its_schema_and_keyword(examples: dict[str, Any]) -> None:
    problems = validate("TransferRequestMessage", {"@type": 1})
    assert problems and all(p.code == "dsp.invalid_message" for p in problems)
    assert all(p.details["schema"] == "TransferRequestMessage" and p.details["keyword"] for p in problems)
    assert all(p.where is not None and p.where.startswith("$") for p in problems)


@pytest.mark.parametrize(
    ("parts", "rendered"),
    [
        ([], "$"),
        (["offer", "permission", 0, "action"], "$.offer.permission[0].action"),
        (["@context", 2], "$['@context'][2]"),
        (["it's"], "$['it\\'s']"),
    ],
)
def test_json_path_rendering(parts: list[str | int], rendered: str) -> None:
    assert json_path(parts) == rendered
