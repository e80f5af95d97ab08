"""DSP data addresses as the data plane writes and reads them, in the shapes peers use.

A pull address (in the provider's TransferStartMessage) and a push destination (in the consumer's
TransferRequestMessage) have the same shape: an HTTPS endpoint, and endpoint properties carrying the token.

Written: one address that both kinds of reader can use. The DSP 2025-1 shape (a top-level ``endpoint``, the token
in the ``authorization`` property with ``authType`` ``bearer``, as the specification's example) and the shape of
EDC's HttpData-PULL endpoint data reference, which EDC reads from the endpoint properties alone, named in EDC's
namespace (``https://w3id.org/edc/v0.0.1/ns/endpoint``, ``.../authorization``, ``.../authType``,
``.../endpointType``; EDC ignores the top-level ``endpoint``). Pull addresses also say when the token expires
(``expiresIn``, seconds), where a fresh one is issued (``refreshEndpoint``) and where the provider's seal of the
data is served (``sealEndpoint``). Every property is a string, as the DSP schema requires.

Read: either shape, member names also prefixed (``dspace:``) or expanded, property names in EDC's namespace also
as ``edc:``. The header a puller sends is what the address says: with the DSP names, ``authType`` ``bearer``
means ``Authorization: Bearer <token>`` (RFC 6750); an address in EDC's names is EDC's convention, whose data
plane takes the value of ``authorization`` as the whole ``Authorization`` header (EDC writes ``authType`` bearer
there, but reads the header without a scheme). A ``refreshEndpoint`` and a ``sealEndpoint`` are only taken from
the DSP names (they are this connector's protocol); an address without ``sealEndpoint`` comes from a provider that
does not seal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from connector.errors import ConnectorError

ENDPOINT_TYPE = "https://w3id.org/idsa/v4.1/HTTP"
AUTHORIZATION = "authorization"
AUTH_TYPE = "authType"
EXPIRES_IN = "expiresIn"
REFRESH_ENDPOINT = "refreshEndpoint"
SEAL_ENDPOINT = "sealEndpoint"
BEARER = "bearer"

EDC_NAMESPACE = "https://w3id.org/edc/v0.0.1/ns/"
EDC_ENDPOINT = EDC_NAMESPACE + "endpoint"
EDC_ENDPOINT_TYPE = EDC_NAMESPACE + "endpointType"
EDC_AUTHORIZATION = EDC_NAMESPACE + "authorization"
EDC_AUTH_TYPE = EDC_NAMESPACE + "authType"
_EDC_PREFIX = "edc:"

_DSPACE_PREFIXES = ("dspace:", "https://w3id.org/dspace/2025/1/")
WHERE = "dataAddress.endpointProperties"

Convention = Literal["dsp", "edc"]


class AddressError(ConnectorError):
    """A data address the data plane cannot use."""


def data_address(endpoint: str, token: str, properties: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A DSP DataAddress for `endpoint` carrying `token` as a bearer token, readable as DSP 2025-1 describes it and
    as EDC's HttpData-PULL consumer reads it, plus further string properties."""
    props = {
        AUTHORIZATION: token,
        AUTH_TYPE: BEARER,
        EDC_ENDPOINT: endpoint,
        EDC_ENDPOINT_TYPE: ENDPOINT_TYPE,
        EDC_AUTHORIZATION: token,
        EDC_AUTH_TYPE: BEARER,
        **(properties or {}),
    }
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
    """What a data address lets its holder do: call `endpoint` with `token`, as the address's `convention` says.
    `properties` holds the properties in DSP names, `edc` those in EDC's namespace (by their local names)."""

    endpoint: str
    token: str
    properties: Mapping[str, str] = field(default_factory=dict)
    convention: Convention = "dsp"
    edc: Mapping[str, str] = field(default_factory=dict)

    @property
    def refresh_endpoint(self) -> str | None:
        return self.properties.get(REFRESH_ENDPOINT)

    @property
    def seal_endpoint(self) -> str | None:
        """Where the provider serves its seal; None: the provider does not seal (EDC's data plane never does)."""
        return self.properties.get(SEAL_ENDPOINT)

    def expires_at(self, received_at: datetime) -> datetime | None:
        """When the token expires, reckoned from when the address was received (None when unstated)."""
        text = self.properties.get(EXPIRES_IN, self.edc.get(EXPIRES_IN))
        if text is None or not text.isdigit():
            return None
        return received_at + timedelta(seconds=int(text))

    def authorization_header(self) -> str:
        """The Authorization header value this address asks for."""
        if self.convention == "edc":
            return self.token
        return f"Bearer {self.token}"

    @classmethod
    def from_address(cls, value: Any) -> EndpointAccess:
        """Read a DataAddress (JSON, either shape); raises AddressError naming what is missing or wrong."""
        if not isinstance(value, Mapping):
            raise AddressError("address.invalid", "the data address is not a JSON object", "dataAddress")
        members = {_member_name(k): v for k, v in value.items() if isinstance(k, str)}
        dsp, edc = _properties(members.get("endpointProperties", []))
        convention: Convention = "dsp" if AUTHORIZATION in dsp else "edc" if AUTHORIZATION in edc else "dsp"
        named = dsp if convention == "dsp" else edc
        # EDC reads the endpoint from its properties only; the DSP shape has it at the top.
        found = (edc.get("endpoint"), members.get("endpoint"))
        endpoint = next((e for e in (found if convention == "edc" else found[::-1]) if e is not None), None)
        if not isinstance(endpoint, str) or not endpoint:
            raise AddressError("address.invalid", "the data address has no endpoint", "dataAddress.endpoint")
        parts = urlsplit(endpoint)
        if parts.scheme != "https" or not parts.hostname:
            raise AddressError("address.invalid", "the data endpoint must be an https URL", "dataAddress.endpoint")
        token = named.get(AUTHORIZATION)
        if not token:
            raise AddressError("address.no_token", "the data address carries no authorization token", WHERE)
        auth_type = named.get(AUTH_TYPE, BEARER)
        if auth_type.lower() != BEARER:
            raise AddressError("address.auth_type", f"authType {auth_type!r} is not supported (only bearer)", WHERE)
        return cls(endpoint, token, dsp, convention, edc)


def _member_name(key: str) -> str:
    for prefix in _DSPACE_PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix) :]
    return key


def _properties(raw: Any) -> tuple[dict[str, str], dict[str, str]]:
    """The endpoint properties with string values: (DSP names, EDC's names by their local part). A property whose
    value is not a string (EDC's response channel is an object) is left out; one without a name is an error."""
    items = [raw] if isinstance(raw, Mapping) else raw  # a lone property, as JSON-LD compaction writes it
    if not isinstance(items, list):
        raise AddressError("address.invalid", "endpointProperties must be a list", WHERE)
    dsp: dict[str, str] = {}
    edc: dict[str, str] = {}
    for i, prop in enumerate(items):
        members = {_member_name(k): v for k, v in prop.items()} if isinstance(prop, Mapping) else {}
        name, text = members.get("name"), members.get("value")
        if not isinstance(name, str) or not name:
            raise AddressError("address.invalid", "an endpoint property needs a string name", f"{WHERE}[{i}]")
        if not isinstance(text, str):
            continue
        for prefix in (EDC_NAMESPACE, _EDC_PREFIX):
            if name.startswith(prefix):
                edc.setdefault(name[len(prefix) :], text)
                break
        else:
            dsp.setdefault(name, text)
    return dsp, edc


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
