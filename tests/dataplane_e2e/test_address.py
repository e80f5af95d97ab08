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
