"""The protocol version document served at `/.well-known/dspace-version` (DSP 2025-1, Common Functionality)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.dsp.vocabulary import PROTOCOL_VERSION

DSP_BASE_PATH = "/dsp/2025-1"  # where this node serves the HTTPS binding, below its protocol URL


def version_response(
    path: str,
    *,
    identifier_type: str | None = "did:web",
    service_id: str | None = None,
    auth: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The body listing the one version we speak: 2025-1 over HTTPS under `path` (e.g. "/api/dsp/2025-1")."""
    entry: dict[str, Any] = {"version": PROTOCOL_VERSION, "path": path, "binding": "HTTPS"}
    if identifier_type is not None:
        entry["identifierType"] = identifier_type
    if service_id is not None:
        entry["serviceId"] = service_id
    if auth is not None:
        entry["auth"] = dict(auth)
    return {"protocolVersions": [entry]}
