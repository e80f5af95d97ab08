"""Everything we emit validates against the official schema and parses back to the same value."""

from __future__ import annotations

from typing import Any

import pytest

from connector.dsp.catalog_builder import build_catalog, build_dataset, catalog_offer, data_service, message_offer
from connector.dsp.catalog_messages import Catalog, CatalogError, CatalogRequestMessage, Dataset, DatasetRequestMessage
from connector.dsp.messages import MESSAGE_CLASSES, Message, parse_message
from connector.dsp.negotiation_machine import receive as receive_negotiation
from connector.dsp.negotiation_messages import (
    ContractAgreementMessage,
    ContractAgreementVerificationMessage,
    ContractNegotiation,
    ContractNegotiationError,
    ContractNegotiationEventMessage,
    ContractNegotiationTerminationMessage,
    ContractOfferMessage,
    ContractRequestMessage,
)
from connector.dsp.pagination import paginate
from connector.dsp.schemas import validate
from connector.dsp.transfer_messages import (
    DataAddress,
    EndpointProperty,
    TransferCompletionMessage,
    TransferError,
    TransferProcess,
    TransferRequestMessage,
    TransferStartMessage,
    TransferSuspensionMessage,
    TransferTerminationMessage,
)
from connector.dsp.versions import version_response
from connector.dsp.vocabulary import DSP_CONTEXT, NegotiationEvent, NegotiationState, Role, TransferState
from connector.errors import ConnectorError, Problem

PROVIDER = "did:web:localhost%3A8443:org-a"
CONSUMER = "did:web:localhost%3A8444:org-b"
PPID = "urn:uuid:6a1f0b8e-3c1d-4f5e-9a7b-2c8d4e6f0a1b"
CPID = "urn:uuid:0e9d8c7b-6a5f-4e3d-2c1b-0a9f8e7d6c5b"
OFFER = {
    "@id": "urn:uuid:offer-weather-eu-1",
    "@type": "Offer",
    "target": "urn:uuid:dataset-weather-eu",
    "permission": [
        {
            "action": "use",
            "constraint": [{"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"}],
        }
    ],
}
AGREEMENT = {
    "@id": "urn:uuid:agreement-7",
    "@type": "Agreement",
    "target": "urn:uuid:dataset-weather-eu",
    "assigner": PROVIDER,
    "assignee": CONSUMER,
    "timestamp": "2025-06-01T09:30:00Z",
    "permission": [{"action": "use"}],
}
PULL_ADDRESS = DataAddress(
    endpoint_type="https://w3id.org/idsa/v4.1/HTTP",
    endpoint="https://localhost:8443/data/transfers/42",
    endpoint_properties=(
        EndpointProperty(name="authorization", value="eyJhbGciOiJFUzI1NiJ9.e30.sig"),
        EndpointProperty(name="authType", value="bearer"),
    ),
)
SERVICE = data_service(f"{PROVIDER}#dsp", "https://localhost:8443/api/dsp/2025-1")

EVERY_MESSAGE: list[Message] = [
    CatalogRequestMessage(),
    CatalogRequestMessage(filter=({"keyword": "weather"},), message_id="urn:uuid:m1"),
    DatasetRequestMessage(dataset="urn:uuid:dataset-weather-eu"),
    CatalogError(code="dsp.catalog.unknown_dataset", reason=("no dataset CAT0103 is offered to you",)),
    ContractRequestMessage(consumer_pid=CPID, offer=OFFER, callback_address="https://localhost:8444/api/dsp/2025-1"),
    ContractRequestMessage(consumer_pid=CPID, provider_pid=PPID, offer=OFFER, message_id="urn:uuid:m2"),
    ContractOfferMessage(provider_pid=PPID, offer=OFFER, callback_address="https://localhost:8443/api/dsp/2025-1"),
    ContractOfferMessage(provider_pid=PPID, consumer_pid=CPID, offer=OFFER),
    ContractAgreementMessage(provider_pid=PPID, consumer_pid=CPID, agreement=AGREEMENT),
    ContractAgreementVerificationMessage(provider_pid=PPID, consumer_pid=CPID),
    ContractNegotiationEventMessage(provider_pid=PPID, consumer_pid=CPID, event_type=NegotiationEvent.ACCEPTED),
    ContractNegotiationEventMessage(provider_pid=PPID, consumer_pid=CPID, event_type=NegotiationEvent.FINALIZED),
    ContractNegotiationTerminationMessage(provider_pid=PPID, consumer_pid=CPID),
    ContractNegotiationTerminationMessage(
        provider_pid=PPID,
        consumer_pid=CPID,
        code="dsp.policy.denied",
        reason=("the purpose 'marketing' is not permitted",),
    ),
    ContractNegotiation(provider_pid=PPID, consumer_pid=CPID, state=NegotiationState.AGREED),
    ContractNegotiationError(provider_pid=PPID, consumer_pid=CPID, code="x", reason=({"detail": "structured"},)),
    TransferRequestMessage(
        consumer_pid=CPID,
        agreement_id="urn:uuid:agreement-7",
        format="HttpData-PULL",
        callback_address="https://localhost:8444/api/dsp/2025-1",
    ),
    TransferRequestMessage(
        consumer_pid=CPID,
        agreement_id="urn:uuid:agreement-7",
        format="HttpData-PUSH",
        callback_address="https://localhost:8444/api/dsp/2025-1",
        data_address=PULL_ADDRESS,
    ),
    TransferStartMessage(provider_pid=PPID, consumer_pid=CPID, data_address=PULL_ADDRESS),
    TransferStartMessage(provider_pid=PPID, consumer_pid=CPID),
    TransferSuspensionMessage(provider_pid=PPID, consumer_pid=CPID, code="maintenance", reason=("back at noon",)),
    TransferCompletionMessage(provider_pid=PPID, consumer_pid=CPID),
    TransferTerminationMessage(provider_pid=PPID, consumer_pid=CPID),
    TransferProcess(provider_pid=PPID, consumer_pid=CPID, state=TransferState.STARTED),
    TransferError(
        provider_pid=PPID,
        consumer_pid=CPID,
        code="dsp.transfer.invalid_transition",
        reason=("a TransferCompletionMessage is not allowed in state SUSPENDED",),
    ),
]


def test_every_message_type_is_built_at_least_once() -> None:
    built = {type(message).TYPE for message in EVERY_MESSAGE} | {"Catalog", "Dataset"}
    assert built == set(MESSAGE_CLASSES)


@pytest.mark.parametrize("message", EVERY_MESSAGE, ids=lambda m: type(m).__name__)
def test_built_message_validates_and_parses_back(message: Message) -> None:
    body = message.to_json()
    assert validate(message.TYPE, body) == []
    assert body["@context"] == [DSP_CONTEXT] and body["@type"] == message.TYPE
    assert parse_message(body, expected=message.TYPE) == message


def test_message_id_goes_on_the_wire_as_the_message_at_id() -> None:
    body = ContractAgreementVerificationMessage(
        provider_pid="p", consumer_pid="c", message_id="urn:uuid:retry-1"
    ).to_json()
    assert body["@id"] == "urn:uuid:retry-1"


def test_states_and_events_are_emitted_as_bare_names() -> None:
    assert (
        ContractNegotiation(provider_pid="p", consumer_pid="c", state="TERMINATED").to_json()["state"] == "TERMINATED"
    )
    event = ContractNegotiationEventMessage(provider_pid="p", consumer_pid="c", event_type="FINALIZED")
    assert event.event_type is NegotiationEvent.FINALIZED and event.to_json()["eventType"] == "FINALIZED"


def test_unknown_state_cannot_be_built() -> None:
    with pytest.raises(ConnectorError) as caught:
        TransferProcess(provider_pid="p", consumer_pid="c", state="PAUSED")
    assert (caught.value.code, caught.value.where) == ("dsp.invalid_message", "state")


@pytest.mark.parametrize(
    "build",
    [
        lambda: ContractRequestMessage(consumer_pid=CPID, offer=OFFER),
        lambda: ContractRequestMessage(consumer_pid=CPID, offer=OFFER, provider_pid=PPID, callback_address="https://x"),
        lambda: ContractOfferMessage(provider_pid=PPID, offer=OFFER),
        lambda: ContractOfferMessage(provider_pid=PPID, offer=OFFER, consumer_pid=CPID, callback_address="https://x"),
    ],
)
def test_request_and_offer_need_exactly_one_of_counterparty_pid_or_callback(build: Any) -> None:
    with pytest.raises(ConnectorError) as caught:
        build()
    assert caught.value.code == "dsp.invalid_message"


def test_extensions_may_not_shadow_modelled_properties() -> None:
    with pytest.raises(ConnectorError) as caught:
        ContractAgreementVerificationMessage(provider_pid="p", consumer_pid="c", extensions={"providerPid": "q"})
    assert (caught.value.code, caught.value.where) == ("dsp.extension_clash", "providerPid")


def test_extensions_cannot_change_the_top_level_type_or_context() -> None:
    message = TransferCompletionMessage(
        provider_pid="p", consumer_pid="c", extensions={"@type": "Other", "@context": ["x"], "note": "kept"}
    )
    body = message.to_json()
    assert (body["@type"], body["@context"], body["note"]) == ("TransferCompletionMessage", [DSP_CONTEXT], "kept")


def test_error_bodies_are_built_from_problems_and_validate() -> None:
    refusal = receive_negotiation(Role.PROVIDER, NegotiationState.OFFERED, "ContractAgreementVerificationMessage")
    problem = refusal.problem  # type: ignore[union-attr]
    negotiation_error = ContractNegotiationError.from_problem(problem, provider_pid=PPID, consumer_pid=CPID).to_json()
    transfer_error = TransferError.from_problem(
        Problem("dsp.transfer.unknown", "no such transfer", "providerPid"), provider_pid=PPID, consumer_pid=CPID
    ).to_json()
    catalog_error = CatalogError.from_problem(Problem("dsp.catalog.unknown_dataset", "no dataset CAT0103")).to_json()
    assert validate("ContractNegotiationError", negotiation_error) == []
    assert validate("TransferError", transfer_error) == []
    assert validate("CatalogError", catalog_error) == []
    assert negotiation_error["code"] == "dsp.negotiation.invalid_transition"
    assert negotiation_error["reason"] == [problem.reason]
    assert transfer_error["reason"] == ["no such transfer (providerPid)"]
    assert catalog_error == {
        "@context": [DSP_CONTEXT],
        "@type": "CatalogError",
        "code": "dsp.catalog.unknown_dataset",
        "reason": ["no dataset CAT0103"],
    }


def _weather_dataset(dataset_id: str, access_service: Any = SERVICE.id) -> Dataset:
    return build_dataset(
        dataset_id,
        offers=[{**OFFER, "@id": f"urn:uuid:offer-{dataset_id}", "target": dataset_id}],
        formats=["HttpData-PULL", "HttpData-PUSH"],
        access_service=access_service,
        properties={"title": f"Weather {dataset_id}"},
    )


def test_catalog_builder_makes_a_valid_catalog_with_target_free_offers() -> None:
    catalog = build_catalog(
        "urn:uuid:catalog-org-a",
        participant_id=PROVIDER,
        services=[SERVICE],
        datasets=[_weather_dataset("CAT0101"), _weather_dataset("CAT0102")],
    )
    body = catalog.to_json()
    assert validate("Catalog", body) == []
    assert body["participantId"] == PROVIDER
    assert body["service"] == [{"@type": "DataService", "@id": SERVICE.id, "endpointURL": SERVICE.endpoint_url}]
    first = body["dataset"][0]
    assert first["@id"] == "CAT0101" and first["title"] == "Weather CAT0101"
    assert "target" not in first["hasPolicy"][0] and first["hasPolicy"][0]["@type"] == "Offer"
    assert [d["format"] for d in first["distribution"]] == ["HttpData-PULL", "HttpData-PUSH"]
    assert all(d["accessService"] == SERVICE.id for d in first["distribution"])
    assert parse_message(body) == catalog


def test_standalone_dataset_embeds_its_data_service_and_validates() -> None:
    body = _weather_dataset("CAT0102", access_service=SERVICE).to_json()
    assert validate("Dataset", body) == []
    assert body["distribution"][0]["accessService"]["endpointURL"] == SERVICE.endpoint_url


def test_empty_catalog_page_omits_the_dataset_array_and_validates() -> None:
    body = build_catalog("urn:uuid:c", participant_id=PROVIDER, services=[SERVICE], datasets=[]).to_json()
    assert "dataset" not in body
    assert validate("Catalog", body) == []


def test_every_catalog_page_validates() -> None:
    datasets = [_weather_dataset(f"DS{i:03}") for i in range(7)]
    cursor = None
    seen = []
    while True:
        page = paginate(datasets, page_size=3, cursor=cursor)
        body = build_catalog("urn:uuid:c", participant_id=PROVIDER, services=[SERVICE], datasets=page.items).to_json()
        assert validate("Catalog", body) == []
        seen.extend(d["@id"] for d in body["dataset"])
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [f"DS{i:03}" for i in range(7)]


def test_offer_targeting_another_dataset_is_refused_not_moved() -> None:
    with pytest.raises(ConnectorError) as caught:
        catalog_offer({**OFFER, "target": "urn:uuid:other"}, "urn:uuid:dataset-weather-eu")
    assert (caught.value.code, caught.value.where) == ("dsp.invalid_offer", "target")


def test_offer_without_id_is_refused() -> None:
    with pytest.raises(ConnectorError) as caught:
        catalog_offer({"@type": "Offer", "permission": [{"action": "use"}]}, "d")
    assert caught.value.where == "@id"


@pytest.mark.parametrize(
    ("offers", "formats", "where"), [([], ["HttpData-PULL"], "hasPolicy"), ([OFFER], [], "distribution")]
)
def test_dataset_needs_an_offer_and_a_format(offers: list[Any], formats: list[str], where: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        build_dataset("urn:uuid:dataset-weather-eu", offers=offers, formats=formats, access_service=SERVICE.id)
    assert (caught.value.code, caught.value.where) == ("dsp.invalid_dataset", where)


def test_catalog_needs_a_data_service() -> None:
    with pytest.raises(ConnectorError) as caught:
        build_catalog("urn:uuid:c", participant_id=PROVIDER, services=[], datasets=[])
    assert caught.value.code == "dsp.invalid_catalog"


def test_offer_taken_from_a_catalogue_gets_its_target_back_for_a_request() -> None:
    listed = catalog_offer(OFFER, OFFER["target"])
    request = ContractRequestMessage(
        consumer_pid=CPID,
        offer=message_offer(listed, OFFER["target"]),
        callback_address="https://localhost:8444/api/dsp/2025-1",
    )
    assert request.to_json()["offer"] == OFFER
    assert validate("ContractRequestMessage", request.to_json()) == []


def test_catalog_builder_leaves_the_callers_offer_untouched() -> None:
    offer = dict(OFFER)
    _ = catalog_offer(offer, OFFER["target"])
    assert offer == OFFER


def test_version_response_validates_and_names_2025_1() -> None:
    body = version_response("/api/dsp/2025-1", service_id=SERVICE.id)
    assert validate("VersionResponse", body) == []
    assert body["protocolVersions"] == [
        {
            "version": "2025-1",
            "path": "/api/dsp/2025-1",
            "binding": "HTTPS",
            "identifierType": "did:web",
            "serviceId": SERVICE.id,
        }
    ]


def test_catalog_round_trips_nested_structures_as_values() -> None:
    catalog = Catalog(
        id="c", participant_id=PROVIDER, services=(SERVICE,), catalogs=(Catalog(id="inner", services=(SERVICE,)),)
    )
    assert parse_message(catalog.to_json()) == catalog
