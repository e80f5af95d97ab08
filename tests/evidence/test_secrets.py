"""Bearer secrets of data addresses are withheld from logged messages, in every spelling of a data address."""

from __future__ import annotations

import hashlib

from connector.dataplane.address import data_address, pull_address
from connector.evidence.secrets import holds_secrets, withheld, withhold_secrets


def _digest(token: str) -> str:
    return "withheld:sha256:" + hashlib.sha256(token.encode()).hexdigest()


def test_a_pull_address_in_a_start_message_keeps_everything_but_its_token():
    from datetime import UTC, datetime, timedelta

    now = datetime(2030, 1, 1, tzinfo=UTC)
    address = pull_address("https://p.example/data/1", "secret-token", now, now + timedelta(minutes=5))
    message = {"@type": "TransferStartMessage", "providerPid": "p", "dataAddress": address}
    logged = withhold_secrets(message)
    props = {p["name"]: p["value"] for p in logged["dataAddress"]["endpointProperties"]}
    assert props["authorization"] == _digest("secret-token") == withheld("secret-token")
    assert props["authType"] == "bearer" and props["refreshEndpoint"] == "https://p.example/data/1/token"
    assert "secret-token" not in repr(logged)
    assert message["dataAddress"]["endpointProperties"][0]["value"] == "secret-token"  # the message itself is intact
    assert holds_secrets(message) and not holds_secrets(logged)
    assert withhold_secrets(logged) is logged  # withheld once, never twice


def test_expanded_names_and_nested_addresses_are_withheld_too():
    message = {
        "https://w3id.org/dspace/2025/1/dataAddress": {
            "https://w3id.org/dspace/2025/1/endpointProperties": [
                {
                    "https://w3id.org/dspace/2025/1/name": "https://w3id.org/edc/v0.0.1/ns/authorization",
                    "https://w3id.org/dspace/2025/1/value": "edc-token",
                },
                {"name": "https://w3id.org/edc/v0.0.1/ns/refreshToken", "value": "refresh-me"},
                {"name": "region", "value": "eu"},
            ]
        },
        "more": [{"dataAddress": data_address("https://c.example/push/1", "push-token")}],
    }
    logged = repr(withhold_secrets(message))
    for secret in ("edc-token", "refresh-me", "push-token"):
        assert secret not in logged and _digest(secret) in logged
    assert "'eu'" in logged


def test_a_message_without_secrets_is_the_same_object():
    message = {"@type": "ContractRequestMessage", "offer": {"permission": [{"action": "use"}]}, "n": [1, 2, 3]}
    assert withhold_secrets(message) is message and not holds_secrets(message)
    assert withhold_secrets("text") == "text" and withhold_secrets(None) is None
