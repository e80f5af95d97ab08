"""Data addresses, pure: what the provider writes, what the consumer reads, and the bearer header."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.dataplane.address import AddressError, EndpointAccess, bearer_token, data_address, pull_address
from connector.dsp.schemas import validate

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def test_a_pull_address_is_a_valid_dsp_data_address_and_reads_back() -> None:
    address = pull_address("https://p.example:9000/data/urn:uuid:1", "tok", NOW, NOW + timedelta(seconds=300))
    start = {
        "@context": ["https://w3id.org/dspace/2025/1/context.jsonld"],
        "@type": "TransferStartMessage",
        "providerPid": "urn:uuid:1",
        "consumerPid": "urn:uuid:2",
        "dataAddress": address,
    }
    assert validate("TransferStartMessage", start) == []
    access = EndpointAccess.from_address(address)
    assert access.token == "tok" and access.authorization_header() == "Bearer tok"
    assert access.refresh_endpoint == "https://p.example:9000/data/urn:uuid:1/token"
    assert access.seal_endpoint == "https://p.example:9000/data/urn:uuid:1/seal"
    assert access.expires_at(NOW) == NOW + timedelta(seconds=300)


@pytest.mark.parametrize(
    "address, where",
    [
        ({"endpoint": "http://p.example/data"}, "dataAddress.endpoint"),
        ({"endpoint": "https://p.example/d", "endpointProperties": "x"}, "dataAddress.endpointProperties"),
        (
            {"endpoint": "https://p.example/d", "endpointProperties": [{"name": "authType", "value": "bearer"}]},
            "dataAddress.endpointProperties",
        ),
        (data_address("https://p.example/d", "t", {"authType": "basic"}), "dataAddress.endpointProperties"),
        ("not an object", "dataAddress"),
    ],
)
def test_unusable_addresses_are_refused_naming_the_field(address, where) -> None:
    with pytest.raises(AddressError) as caught:
        EndpointAccess.from_address(address)
    assert caught.value.where == where


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(
                st.sampled_from(["endpoint", "endpointProperties", "name", "value", "x"]), inner, max_size=4
            ),
        ),
        max_leaves=12,
    )
)
def test_reading_any_json_either_works_or_raises_an_address_error(value) -> None:
    try:
        access = EndpointAccess.from_address(value)
    except AddressError:
        return
    assert access.endpoint.startswith("https://") and access.token


@pytest.mark.parametrize(
    "header, token",
    [
        (None, None),
        ("", None),
        ("Bearer abc", "abc"),
        ("bearer   abc ", "abc"),
        ("abc", "abc"),
        ("Basic dXNlcjpwYXNz", None),
        ("Bearer", "Bearer"),
    ],
)
def test_the_bearer_token_is_read_with_or_without_its_scheme(header, token) -> None:
    assert bearer_token(header) == token


# --- the shapes peers use -------------------------------------------------------------------------------------
# EDC's HttpData-PULL endpoint data reference, as EDC's documentation and DSP transformer describe it: the data
# address's properties become `endpointProperties` named in EDC's namespace, the endpoint among them, the token as
# the value of the Authorization header its data plane reads (no scheme), `authType` bearer all the same.

EDC = "https://w3id.org/edc/v0.0.1/ns/"
JWT = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJwcm92aWRlciJ9.c2ln"


def edc_pull_address(**extra) -> dict:
    props = {
        EDC + "endpoint": "https://provider.example/public",
        EDC + "endpointType": "https://w3id.org/idsa/v4.1/HTTP",
        EDC + "authorization": JWT,
        EDC + "authType": "bearer",
    }
    return {
        "@type": "DataAddress",
        "endpointType": "https://w3id.org/idsa/v4.1/HTTP",
        "endpointProperties": [
            *({"@type": "EndpointProperty", "name": k, "value": v} for k, v in props.items()),
            *extra.pop("more", []),
        ],
        **extra,
    }


def edc_reads(address: dict) -> dict:
    """What EDC's consumer keeps of a DataAddress (its endpoint data reference): the type from endpointType, and
    each endpoint property by its name; the top-level endpoint is not read."""
    edr = {"type": address["endpointType"]}
    for prop in address["endpointProperties"]:
        edr[prop["name"]] = prop["value"]
    return edr


def test_an_edc_pull_address_is_read_with_edcs_header_and_no_seal() -> None:
    access = EndpointAccess.from_address(edc_pull_address())
    assert access.endpoint == "https://provider.example/public"
    assert access.token == JWT
    assert access.authorization_header() == JWT  # EDC's data plane takes the raw token
    assert access.seal_endpoint is None and access.refresh_endpoint is None


def test_an_edc_address_prefers_its_property_endpoint_and_skips_object_values() -> None:
    channel = {"@type": "EndpointProperty", "name": EDC + "responseChannel", "value": {"@type": "DataAddress"}}
    address = edc_pull_address(endpoint="https://elsewhere.example/x", more=[channel])
    access = EndpointAccess.from_address(address)
    assert access.endpoint == "https://provider.example/public"
    assert access.authorization_header() == JWT


def test_edc_names_may_come_prefixed() -> None:
    address = {
        "dspace:endpointType": "https://w3id.org/idsa/v4.1/HTTP",
        "https://w3id.org/dspace/2025/1/endpointProperties": [
            {"dspace:name": "edc:endpoint", "dspace:value": "https://provider.example/public"},
            {"dspace:name": "edc:authorization", "dspace:value": JWT},
        ],
    }
    access = EndpointAccess.from_address(address)
    assert (access.endpoint, access.authorization_header()) == ("https://provider.example/public", JWT)


def test_the_dsp_example_shape_is_read_as_a_bearer_token() -> None:
    address = {
        "@type": "DataAddress",
        "endpointType": "https://w3id.org/idsa/v4.1/HTTP",
        "endpoint": "https://example.com",
        "endpointProperties": [
            {"@type": "EndpointProperty", "name": "authorization", "value": "TOKEN-ABCDEFG"},
            {"@type": "EndpointProperty", "name": "authType", "value": "bearer"},
        ],
    }
    access = EndpointAccess.from_address(address)
    assert access.authorization_header() == "Bearer TOKEN-ABCDEFG" and access.seal_endpoint is None


def test_what_we_write_is_usable_by_edcs_pull_consumer() -> None:
    address = pull_address("https://p.example:9000/data/urn:uuid:1", JWT, NOW, NOW + timedelta(seconds=300))
    edr = edc_reads(address)
    assert edr["type"] == "https://w3id.org/idsa/v4.1/HTTP"
    assert edr[EDC + "endpoint"] == "https://p.example:9000/data/urn:uuid:1"
    assert edr[EDC + "authorization"] == JWT and edr[EDC + "authType"] == "bearer"
    # ... and by the DSP reading, which this connector uses for its own addresses
    assert EndpointAccess.from_address(address).authorization_header() == f"Bearer {JWT}"


def test_an_edc_address_with_another_auth_type_is_refused() -> None:
    address = edc_pull_address(more=[{"@type": "EndpointProperty", "name": "authType", "value": "basic"}])
    address["endpointProperties"] = [p for p in address["endpointProperties"] if p["name"] != EDC + "authType"]
    address["endpointProperties"].append({"@type": "EndpointProperty", "name": EDC + "authType", "value": "basic"})
    with pytest.raises(AddressError) as caught:
        EndpointAccess.from_address(address)
    assert caught.value.code == "address.auth_type"
