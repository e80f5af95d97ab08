"""Bearer secrets stay out of the evidence log and out of every bundle exported from it. Pure.

A DSP data address carries the token that opens a data endpoint (the ``authorization`` endpoint property of a
pull address or a push destination). The log keeps messages for auditors, who must never receive a usable
secret, and it cannot forget what it once kept (it is append-only). So a message is logged with each such value
replaced by ``withheld:sha256:<hex>``, the digest of the token: the record still proves which token was sent (an
auditor given the token can hash it and compare), but the log holds nothing that opens an endpoint.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

WITHHELD = "withheld:sha256:"
# Endpoint properties whose value is a secret (compared on the last segment of the name, case-insensitively, so
# that expanded names such as ``https://w3id.org/edc/v0.0.1/ns/authorization`` are caught too).
SECRET_PROPERTIES = frozenset(
    {"authorization", "token", "accesstoken", "access_token", "refreshtoken", "refresh_token"}
)
_MAX_DEPTH = 64


def _last_segment(name: str) -> str:
    for separator in ("/", "#", ":"):
        name = name.rsplit(separator, 1)[-1]
    return name.lower()


def _is_properties_key(key: object) -> bool:
    return isinstance(key, str) and _last_segment(key) == "endpointproperties"


def is_secret_property(prop: object) -> bool:
    """An endpoint property (``{"name", "value"}``) whose value is a bearer secret not yet withheld."""
    if not isinstance(prop, Mapping):
        return False
    name = next((prop[k] for k in prop if isinstance(k, str) and _last_segment(k) == "name"), None)
    value = next((prop[k] for k in prop if isinstance(k, str) and _last_segment(k) == "value"), None)
    return (
        isinstance(name, str)
        and _last_segment(name) in SECRET_PROPERTIES
        and isinstance(value, str)
        and not value.startswith(WITHHELD)
    )


def withheld(secret: str) -> str:
    return WITHHELD + hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def _withhold_property(prop: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(prop)
    for key in prop:
        if isinstance(key, str) and _last_segment(key) == "value":
            out[key] = withheld(prop[key])
    return out


def withhold_secrets(value: Any, _depth: int = 0) -> Any:
    """`value` with every bearer secret of a data address replaced by its digest; `value` itself (the same object)
    when it holds none, so that the common case costs a walk and no copy."""
    if _depth > _MAX_DEPTH:
        return value
    if isinstance(value, Mapping):
        changed: dict[str, Any] | None = None
        for key, item in value.items():
            if _is_properties_key(key) and isinstance(item, list) and any(is_secret_property(p) for p in item):
                new: Any = [_withhold_property(p) if is_secret_property(p) else p for p in item]
            else:
                new = withhold_secrets(item, _depth + 1)
            if new is not item:
                changed = changed if changed is not None else dict(value)
                changed[key] = new
        return value if changed is None else changed
    if isinstance(value, list):
        items = [withhold_secrets(item, _depth + 1) for item in value]
        return value if all(a is b for a, b in zip(items, value)) else items
    return value


def holds_secrets(value: Any) -> bool:
    """Whether `value` still carries a bearer secret (a message logged before secrets were withheld)."""
    return withhold_secrets(value) is not value
