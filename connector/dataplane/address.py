"""DSP data addresses as the data plane writes and reads them.

A pull address (in the provider's TransferStartMessage) and a push destination (in the consumer's
TransferRequestMessage) have the same shape: an HTTPS endpoint and endpoint properties, among them the bearer
token (``authorization`` with ``authType`` ``bearer``, as EDC writes them). Pull addresses also say when the token
expires (``expiresIn``, seconds, as EDC), where a fresh one is issued (``refreshEndpoint``) and where the seal of
the data is served (``sealEndpoint``). Every property is a string, as the DSP schema requires.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from connector.errors import ConnectorError

ENDPOINT_TYPE = "https://w3id.org/idsa/v4.1/HTTP"
AUTHORIZATION = "authorization"
AUTH_TYPE = "authType"
EXPIRES_IN = "expiresIn"
REFRESH_ENDPOINT = "refreshEndpoint"
SEAL_ENDPOINT = "sealEndpoint"


class AddressError(ConnectorError):
    """A data address the data plane cannot use."""


def data_address(endpoint: str, token: str, properties: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A DSP DataAddress for `endpoint` carrying `token` as a bearer token, plus further string properties."""
    props = {AUTHORIZATION: token, AUTH_TYPE: "bearer", **(properties or {})}
    return {
        "@type": "DataAddress",
        "endpointType": ENDPOINT_TYPE,
        "endpoint": endpoint,
        "endpointProperties": [{"@type": "EndpointProperty", "name": k, "value": v} for k, v in props.items()],
    }


def pull_address(endpoint: str, token: str, issued_at: datetime, expires_at: datetime) -> dict[str, Any]:
    lifetime = max(0, int((expires_at - issued_at).total_seconds()))
    return data_address(
        endpoint,
        token,
        {
            EXPIRES_IN: str(lifetime),
            REFRESH_ENDPOINT: endpoint + "/token",
            SEAL_ENDPOINT: endpoint + "/seal",
        },
    )


@dataclass(frozen=True)
class EndpointAccess:
    """What a data address lets its holder do: call `endpoint` with `token`."""

    endpoint: str
    token: str
    properties: Mapping[str, str] = field(default_factory=dict)

    @property
    def refresh_endpoint(self) -> str | None:
        return self.properties.get(REFRESH_ENDPOINT)

    @property
    def seal_endpoint(self) -> str:
        return self.properties.get(SEAL_ENDPOINT) or self.endpoint + "/seal"

    def expires_at(self, received_at: datetime) -> datetime | None:
        """When the token expires, reckoned from when the address was received (None when unstated)."""
        text = self.properties.get(EXPIRES_IN)
        if text is None or not text.isdigit():
            return None
        return received_at + timedelta(seconds=int(text))

    def authorization_header(self) -> str:
        return f"Bearer {self.token}"

    @classmethod
    def from_address(cls, value: Any) -> EndpointAccess:
        """Read a DataAddress (JSON); raises AddressError naming what is missing or wrong."""
        if not isinstance(value, Mapping):
            raise AddressError("address.invalid", "the data address is not a JSON object", "dataAddress")
        endpoint = value.get("endpoint")
        if not isinstance(endpoint, str) or not endpoint:
            raise AddressError("address.invalid", "the data address has no endpoint", "dataAddress.endpoint")
        parts = urlsplit(endpoint)
        if parts.scheme != "https" or not parts.hostname:
            raise AddressError("address.invalid", "the data endpoint must be an https URL", "dataAddress.endpoint")
        raw = value.get("endpointProperties", [])
        if not isinstance(raw, list):
            raise AddressError("address.invalid", "endpointProperties must be a list", "dataAddress.endpointProperties")
        props: dict[str, str] = {}
        for i, prop in enumerate(raw):
            name = prop.get("name") if isinstance(prop, Mapping) else None
            text = prop.get("value") if isinstance(prop, Mapping) else None
            if not isinstance(name, str) or not isinstance(text, str):
                raise AddressError(
                    "address.invalid",
                    "an endpoint property needs a string name and value",
                    f"dataAddress.endpointProperties[{i}]",
                )
            props.setdefault(name, text)
        token = props.get(AUTHORIZATION)
        if not token:
            raise AddressError(
                "address.no_token", "the data address carries no authorization token", "dataAddress.endpointProperties"
            )
        auth_type = props.get(AUTH_TYPE, "bearer")
        if auth_type.lower() != "bearer":
            raise AddressError(
                "address.auth_type",
                f"authType {auth_type!r} is not supported (only bearer)",
                "dataAddress.endpointProperties",
            )
        return cls(endpoint, token, props)


def bearer_token(header: str | None) -> str | None:
    """The token of an Authorization header: ``Bearer <token>``, or the bare token as EDC sends it."""
    if header is None:
        return None
    text = header.strip()
    scheme, _, rest = text.partition(" ")
    if rest and scheme.lower() == "bearer":
        text = rest.strip()
    elif rest:
        return None  # another scheme (Basic, ...)
    return text or None
