"""The harness's own pieces, without a node: the TCK's wire checks and the TCK's message builders."""

from __future__ import annotations

import copy
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tck import tck_messages as msg
from tck.wire_checks import (
    OFFLINE_CONTEXTS,
    catalog_dataset_ids,
    context_problems,
    document_problems,
    parse_json,
    version_problems,
)

from connector.dsp.vocabulary import DSP_CONTEXT, ODRL_PROFILE_CONTEXT

P, C = "provider-1", "consumer-1"

BUILT: dict[str, Any] = {
    "CatalogRequestMessage": msg.catalog_request(),
    "ContractRequestMessage": msg.contract_request(C, "offerACN0101", "ACN0101", "http://127.0.0.1:1"),
    "ContractRequestMessage (counter-offer)": msg.counter_offer(
        P, C, "CD123:ACN0102:456", None, msg.TCK_PARTICIPANT, "ACN0102"
    ),
    "ContractNegotiationEventMessage": msg.accepted_event(P, C),
    "ContractNegotiationEventMessage (finalized)": msg.finalized_event(P, C),
    "ContractAgreementVerificationMessage": msg.verification(P, C),
    "ContractNegotiationTerminationMessage": msg.negotiation_termination(P, C),
    "ContractOfferMessage": msg.contract_offer(P, C, "offerACNC0101", msg.TCK_PARTICIPANT, "did:web:x", "ACNC0101"),
    "ContractAgreementMessage": msg.contract_agreement(
        P, C, msg.new_id(), msg.TCK_PARTICIPANT, "did:web:x", "ACNC0101", "http://127.0.0.1:1"
    ),
    "TransferRequestMessage": msg.transfer_request(C, "ATP0101", "HttpData-PULL", "http://127.0.0.1:1"),
    "TransferStartMessage": msg.transfer_start(P, C, msg.pull_data_address()),
    "TransferStartMessage (no address)": msg.transfer_start(P, C),
    "TransferCompletionMessage": msg.transfer_completion(P, C),
    "TransferSuspensionMessage": msg.transfer_suspension(P, C),
    "TransferTerminationMessage": msg.transfer_termination(P, C),
    "ContractNegotiation": msg.contract_negotiation(P, C, "REQUESTED"),
    "ContractNegotiationError": msg.negotiation_error(P, C, "no"),
    "TransferProcess": msg.transfer_process(P, C, "STARTED"),
    "TransferError": msg.transfer_error(P, C, "no"),
}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=20,
)


@pytest.mark.parametrize("name", sorted(BUILT))
def test_every_message_the_tck_sends_passes_the_tck_checks(name: str) -> None:
    document = BUILT[name]
    assert document_problems(document, name.split(" ")[0]) == []


def test_tck_messages_carry_the_extra_keys_a_node_must_tolerate() -> None:
    assert "@id" in BUILT["ContractRequestMessage"]
    assert BUILT["ContractNegotiationTerminationMessage"]["code"] == "1"
    assert BUILT["TransferSuspensionMessage"]["code"] == "1"
    assert BUILT["ContractAgreementMessage"]["callbackAddress"] == "http://127.0.0.1:1"
    assert BUILT["ContractOfferMessage"]["offer"]["assigner"] == msg.TCK_PARTICIPANT


def test_counter_offer_without_a_known_assigner_leaves_it_out() -> None:
    offer = BUILT["ContractRequestMessage (counter-offer)"]["offer"]
    assert "assigner" not in offer and offer["assignee"] == msg.TCK_PARTICIPANT


def test_type_given_as_an_array_is_rejected() -> None:
    document = copy.deepcopy(BUILT["ContractNegotiation"])
    document["@type"] = ["ContractNegotiation"]
    assert any("@type must be a string" in p for p in document_problems(document))


def test_unexpected_type_is_rejected() -> None:
    problems = document_problems(BUILT["TransferProcess"], "ContractNegotiation")
    assert any("expects ContractNegotiation" in p for p in problems)


@pytest.mark.parametrize(
    "context, fragment",
    [
        (None, "no @context"),
        (DSP_CONTEXT, "must be an array"),
        ([ODRL_PROFILE_CONTEXT], "does not contain"),
        ([DSP_CONTEXT, "https://example.com/other.jsonld"], "offline"),
        ([DSP_CONTEXT, {"@vocab": "x"}], "offline"),
    ],
)
def test_context_must_be_an_array_of_the_dsp_contexts(context: Any, fragment: str) -> None:
    document = copy.deepcopy(BUILT["TransferProcess"])
    if context is None:
        del document["@context"]
    else:
        document["@context"] = context
    assert any(fragment in p for p in document_problems(document))


def test_nested_context_urls_must_be_loadable_offline() -> None:
    document = copy.deepcopy(BUILT["ContractOfferMessage"])
    document["offer"]["@context"] = ["https://www.w3.org/ns/odrl.jsonld"]
    assert any("nested @context" in p for p in document_problems(document))
    document["offer"]["@context"] = [ODRL_PROFILE_CONTEXT, {"ex": "https://example.com/"}]
    assert not any("nested @context" in p for p in document_problems(document))


def test_both_dsp_contexts_are_accepted() -> None:
    assert context_problems([DSP_CONTEXT, ODRL_PROFILE_CONTEXT]) == []


def test_contract_request_needs_callback_address_or_provider_pid_but_not_both() -> None:
    both = copy.deepcopy(BUILT["ContractRequestMessage"])
    both["providerPid"] = P
    neither = copy.deepcopy(BUILT["ContractRequestMessage"])
    del neither["callbackAddress"]
    assert any("never both" in p for p in document_problems(both))
    assert any("neither" in p for p in document_problems(neither))


def test_contract_offer_needs_callback_address_or_consumer_pid_but_not_both() -> None:
    both = copy.deepcopy(BUILT["ContractOfferMessage"])
    both["callbackAddress"] = "http://127.0.0.1:1"
    assert any("never both" in p for p in document_problems(both))


@pytest.mark.parametrize("state", ["dspace:REQUESTED", "https://w3id.org/dspace/2025/1/REQUESTED", "requested"])
def test_states_must_be_bare_names(state: str) -> None:
    document = msg.contract_negotiation(P, C, state)
    assert any("bare name" in p for p in document_problems(document))


def test_event_type_must_be_a_bare_name() -> None:
    document = msg.accepted_event(P, C)
    document["eventType"] = "dspace:ACCEPTED"
    assert any("bare name" in p for p in document_problems(document))


def test_start_data_address_needs_an_endpoint_type() -> None:
    document = msg.transfer_start(P, C, {"@type": "DataAddress", "endpoint": "http://example.com"})
    assert any("endpointType" in p for p in document_problems(document))


def test_empty_pids_are_rejected() -> None:
    assert any("providerPid" in p for p in document_problems(msg.transfer_process("", C, "STARTED")))


def test_unknown_document_type_is_rejected() -> None:
    document = {"@context": [DSP_CONTEXT], "@type": "Nonsense"}
    assert any("not a DSP 2025-1 document type" in p for p in document_problems(document))


def test_schema_failures_are_reported() -> None:
    document = copy.deepcopy(BUILT["TransferRequestMessage"])
    del document["agreementId"]
    assert any(p.startswith("schema TransferRequestMessage:") for p in document_problems(document))


@given(json_values)
@settings(max_examples=200, deadline=None)
def test_checks_never_crash_and_reject_anything_without_a_string_type(value: Any) -> None:
    problems = document_problems(value)
    assert all(isinstance(p, str) and p for p in problems)
    if not (isinstance(value, dict) and isinstance(value.get("@type"), str)):
        assert problems


def _sound_context(value: Any) -> bool:
    return (
        isinstance(value, list)
        and DSP_CONTEXT in value
        and all(isinstance(entry, str) and entry in OFFLINE_CONTEXTS for entry in value)
    )


@given(st.sampled_from(sorted(BUILT)), st.sampled_from(["@type", "@context"]), json_values)
@settings(max_examples=150, deadline=None)
def test_breaking_type_or_context_is_always_noticed(name: str, key: str, replacement: Any) -> None:
    document = copy.deepcopy(BUILT[name])
    unchanged = replacement == document[key] if key == "@type" else _sound_context(replacement)
    if unchanged:
        return
    document[key] = replacement
    assert document_problems(document, name.split(" ")[0])


@given(json_values)
@settings(max_examples=100, deadline=None)
def test_parse_json_reads_back_any_json_value(value: Any) -> None:
    decoded, problem = parse_json(json.dumps(value).encode())
    assert problem is None and decoded == value


@pytest.mark.parametrize("raw", [b"", b"   ", b"{", b"\xff\xfe", b"<html>"])
def test_parse_json_reports_bodies_that_are_not_json(raw: bytes) -> None:
    decoded, problem = parse_json(raw)
    assert decoded is None and problem


def test_version_document_needs_a_2025_1_entry_with_path_and_binding() -> None:
    good = {"protocolVersions": [{"version": "2025-1", "path": "/dsp/2025-1", "binding": "HTTPS"}]}
    assert version_problems(good) == []
    assert version_problems({"protocolVersions": [{"version": "2024-1", "path": "/", "binding": "HTTPS"}]})
    assert version_problems({"protocolVersions": [{"version": "2025-1", "binding": "HTTPS"}]}) == [
        "the 2025-1 entry has no path"
    ]
    assert version_problems([]) and version_problems({"protocolVersions": []})


def test_catalog_dataset_ids_reads_the_top_level_datasets() -> None:
    catalog = {
        "dataset": [{"@id": "CAT0101"}, {"@id": "CAT0102"}, {"title": "no id"}],
        "catalog": [{"dataset": [{"@id": "NESTED"}]}],
    }
    assert catalog_dataset_ids(catalog) == ["CAT0101", "CAT0102"]
    assert catalog_dataset_ids({"dataset": {"@id": "ONLY"}}) == ["ONLY"]
    assert catalog_dataset_ids({}) == []


def test_offer_ids_map_to_datasets_as_the_tck_maps_them() -> None:
    assert msg.offer_id_for("ACNC0101") == "offerACNC0101"
    assert msg.dataset_id_from_offer("offerACNC0101") == "ACNC0101"
    assert msg.dataset_id_from_offer("CD123:ACNC0101:456") is None


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(9999, 1, 1), timezones=st.just(UTC)))
def test_iso_instant_is_utc_with_z_and_valid_for_the_agreement_schema(moment: datetime) -> None:
    text = msg.iso_instant(moment)
    assert text.endswith("Z") and "+" not in text
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", text)
    parsed = datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    assert abs(parsed - moment) < timedelta(microseconds=1)
