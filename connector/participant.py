"""Participant ids: every participant is named by a did:web DID, the one name used everywhere."""

from __future__ import annotations

import re

from connector.errors import ConnectorError

# did:web:<host with optional %3A port>[:<path segment>]*  (W3C did:web method)
_DID_WEB = re.compile(
    r"^did:web:(?P<host>[A-Za-z0-9.\-]+(%3A[0-9]{1,5})?)(?P<path>(:[A-Za-z0-9.\-_~]+|:%[0-9A-Fa-f]{2})*)$"
)


def is_participant_id(value: str) -> bool:
    return isinstance(value, str) and bool(_DID_WEB.match(value)) and len(value) <= 512


def check_participant_id(value: str, where: str | None = None) -> str:
    if not is_participant_id(value):
        raise ConnectorError(
            "participant.bad_id",
            f"'{value}' is not a did:web participant id (e.g. did:web:localhost%3A8443:org-a)",
            where,
        )
    return value


def did_web_origin(value: str) -> str:
    """The https origin a did:web DID resolves at (`did:web:localhost%3A8443:org-a` -> https://localhost:8443)."""
    match = _DID_WEB.match(value)
    if not match:
        raise ConnectorError("participant.bad_id", f"'{value}' is not a did:web participant id")
    return "https://" + match.group("host").replace("%3A", ":")


def did_web_document_path(value: str) -> str:
    """The URL path of the DID document (`/org-a/did.json`, or `/.well-known/did.json` without a path)."""
    match = _DID_WEB.match(value)
    if not match:
        raise ConnectorError("participant.bad_id", f"'{value}' is not a did:web participant id")
    path = match.group("path")
    if not path:
        return "/.well-known/did.json"
    from urllib.parse import unquote

    return "/" + "/".join(unquote(p) for p in path.lstrip(":").split(":")) + "/did.json"
