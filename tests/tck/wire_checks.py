"""What the TCK checks on every document the node sends or returns (TCK.md 3.6), as pure functions.

The TCK parses the body as JSON, reads `@type` as a string (an array crashes it), validates the document against
the 2025-1 schema of that type, then expands it as JSON-LD with only the two DSP contexts available offline. The
checks here return one sentence per problem; an empty list means the TCK would accept the document.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from connector.dsp.schemas import SCHEMA_FILES, validate
from connector.dsp.vocabulary import DSP_CONTEXT, ODRL_PROFILE_CONTEXT

OFFLINE_CONTEXTS = frozenset({DSP_CONTEXT, ODRL_PROFILE_CONTEXT})
NEGOTIATION_STATES = frozenset({"REQUESTED", "OFFERED", "ACCEPTED", "AGREED", "VERIFIED", "FINALIZED", "TERMINATED"})
TRANSFER_STATES = frozenset({"REQUESTED", "STARTED", "SUSPENDED", "COMPLETED", "TERMINATED"})
EVENT_TYPES = frozenset({"ACCEPTED", "FINALIZED"})
# Properties whose value the TCK reads as an expanded @id or @vocab term: they must be plain non-empty strings.
_ID_PROPERTIES = ("providerPid", "consumerPid")

_JSON_NAMES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


def json_name(value: Any) -> str:
    return _JSON_NAMES.get(type(value), type(value).__name__)


def parse_json(raw: bytes) -> tuple[Any, str | None]:
    """The decoded body, or a problem sentence when it is not JSON at all."""
    if not raw.strip():
        return None, "the body is empty, but a JSON document was expected"
    try:
        return json.loads(raw), None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"the body is not JSON ({exc})"


def document_problems(body: Any, expected: str | Iterable[str] | None = None) -> list[str]:
    """Everything the TCK would reject in a DSP document, `expected` naming the acceptable `@type`s."""
    if not isinstance(body, dict):
        return [f"the body is {json_name(body)}, but a DSP document is a JSON object"]
    problems: list[str] = []
    kind = body.get("@type")
    if kind is None:
        problems.append("the document has no @type")
    elif not isinstance(kind, str):
        problems.append(f"@type must be a string, not {json_name(kind)} (the TCK reads it as one string)")
        kind = None
    wanted = _expected_types(expected)
    if kind is not None and wanted and kind not in wanted:
        problems.append(f"@type is {kind!r}, but the TCK expects {' or '.join(sorted(wanted))} here")
    problems.extend(context_problems(body.get("@context"), "@context" in body))
    problems.extend(_nested_context_problems(body))
    if kind is not None:
        if kind in SCHEMA_FILES:
            problems.extend(f"schema {kind}: {problem}" for problem in validate(kind, body))
        else:
            problems.append(f"@type {kind!r} is not a DSP 2025-1 document type")
        problems.extend(_type_rules(kind, body))
    return problems


def context_problems(context: Any, present: bool = True) -> list[str]:
    if not present:
        return ["the document has no @context"]
    if not isinstance(context, list):
        return [f"@context must be an array, not {json_name(context)}"]
    problems = []
    if DSP_CONTEXT not in context:
        problems.append(f"@context does not contain {DSP_CONTEXT}")
    for entry in context:
        if not isinstance(entry, str) or entry not in OFFLINE_CONTEXTS:
            problems.append(
                f"@context entry {json.dumps(entry)[:80]} is not one of the two DSP 2025-1 contexts the "
                "TCK can load offline"
            )
    return problems


def _nested_context_problems(body: Mapping[str, Any]) -> list[str]:
    """A context URL anywhere below the top level must also be loadable offline (inline objects are fine)."""
    problems = []
    stack: list[Any] = [value for key, value in body.items() if key != "@context"]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, dict):
            for key, value in node.items():
                if key == "@context":
                    entries = value if isinstance(value, list) else [value]
                    problems.extend(
                        f"nested @context {entry!r} is not one of the DSP 2025-1 contexts the TCK can load offline"
                        for entry in entries
                        if isinstance(entry, str) and entry not in OFFLINE_CONTEXTS
                    )
                else:
                    stack.append(value)
    return problems


def _expected_types(expected: str | Iterable[str] | None) -> frozenset[str]:
    if expected is None:
        return frozenset()
    if isinstance(expected, str):
        return frozenset({expected})
    return frozenset(expected)


def _type_rules(kind: str, body: Mapping[str, Any]) -> list[str]:
    problems = []
    for key in _ID_PROPERTIES:
        if key in body and not (isinstance(body[key], str) and body[key]):
            problems.append(f"{key} must be a non-empty string")
    if kind == "ContractRequestMessage":
        problems.extend(_exactly_one(body, "callbackAddress", "providerPid", kind))
    elif kind == "ContractOfferMessage":
        problems.extend(_exactly_one(body, "callbackAddress", "consumerPid", kind))
    elif kind == "ContractNegotiation":
        problems.extend(_bare(body, "state", NEGOTIATION_STATES))
    elif kind == "TransferProcess":
        problems.extend(_bare(body, "state", TRANSFER_STATES))
    elif kind == "ContractNegotiationEventMessage":
        problems.extend(_bare(body, "eventType", EVENT_TYPES))
    elif kind == "TransferStartMessage" and "dataAddress" in body:
        address = body["dataAddress"]
        if not isinstance(address, dict) or not isinstance(address.get("endpointType"), str):
            problems.append("a dataAddress in a TransferStartMessage needs an endpointType string")
    return problems


def _exactly_one(body: Mapping[str, Any], first: str, second: str, kind: str) -> list[str]:
    present = [key for key in (first, second) if key in body]
    if len(present) == 1:
        return []
    if not present:
        return [f"a {kind} carries {first} (initial message) or {second} (later message), and this one has neither"]
    return [f"a {kind} carries {first} or {second}, never both (the TCK's schema has a oneOf)"]


def _bare(body: Mapping[str, Any], key: str, names: frozenset[str]) -> list[str]:
    value = body.get(key)
    if value is None:
        return []  # the schema reports a missing required value
    if value not in names:
        return [f"{key} must be a bare name ({', '.join(sorted(names))}), not {json.dumps(value)[:80]}"]
    return []


def version_problems(document: Any) -> list[str]:
    """MET:01-01: a protocolVersions entry with version 2025-1 and non-null path and binding."""
    if not isinstance(document, dict):
        return [f"the version document is {json_name(document)}, not an object"]
    versions = document.get("protocolVersions")
    if not isinstance(versions, list) or not versions:
        return ["protocolVersions must be a non-empty array"]
    for entry in versions:
        if isinstance(entry, dict) and entry.get("version") == "2025-1":
            missing = [key for key in ("path", "binding") if entry.get(key) is None]
            return [f"the 2025-1 entry has no {key}" for key in missing]
    return ["no protocolVersions entry has version 2025-1"]


def catalog_dataset_ids(catalog: Mapping[str, Any]) -> list[str]:
    """The `@id`s of the catalog's own datasets (what the TCK reads as expanded dcat:dataset)."""
    datasets = catalog.get("dataset", [])
    if isinstance(datasets, dict):
        datasets = [datasets]
    if not isinstance(datasets, list):
        return []
    return [entry["@id"] for entry in datasets if isinstance(entry, dict) and isinstance(entry.get("@id"), str)]
