"""Validation against the official DSP 2025-1 JSON Schemas, vendored unchanged in `spec/`.

The schemas reference each other by their published `$id` URLs under https://w3id.org/dspace/2025/1/; a
`referencing` registry answers those from the vendored copies, so nothing is ever fetched. Validators are
compiled once per message type and reused.

Documents of a shape already found valid skip the validator (see `_shape_key`): messages of one kind differ mostly
in identifiers, which the schemas only require to be strings, so after the first of each shape validation is a
walk over the document instead of a run of the validator. A document that is not valid always goes through
the validator, so every refusal is described exactly as before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from connector.dsp.vocabulary import DSP_CONTEXT, DSP_NAMESPACE, ODRL_PROFILE_CONTEXT
from connector.errors import ConnectorError, Problem

if TYPE_CHECKING:  # the validator is loaded with the first message validated: an idle node has no use for it
    from importlib.resources.abc import Traversable

    from jsonschema import Draft201909Validator
    from jsonschema.exceptions import ValidationError
    from referencing import Registry

INVALID_MESSAGE = "dsp.invalid_message"

# Message (or document) kind -> schema file, relative to the schema root and to DSP_NAMESPACE.
SCHEMA_FILES: Mapping[str, str] = {
    "CatalogRequestMessage": "catalog/catalog-request-message-schema.json",
    "DatasetRequestMessage": "catalog/dataset-request-message-schema.json",
    "Catalog": "catalog/catalog-schema.json",
    "Dataset": "catalog/dataset-schema.json",
    "CatalogError": "catalog/catalog-error-schema.json",
    "ContractRequestMessage": "negotiation/contract-request-message-schema.json",
    "ContractOfferMessage": "negotiation/contract-offer-message-schema.json",
    "ContractAgreementMessage": "negotiation/contract-agreement-message-schema.json",
    "ContractAgreementVerificationMessage": "negotiation/contract-agreement-verification-message-schema.json",
    "ContractNegotiationEventMessage": "negotiation/contract-negotiation-event-message-schema.json",
    "ContractNegotiationTerminationMessage": "negotiation/contract-negotiation-termination-message-schema.json",
    "ContractNegotiation": "negotiation/contract-negotiation-schema.json",
    "ContractNegotiationError": "negotiation/contract-negotiation-error-schema.json",
    "TransferRequestMessage": "transfer/transfer-request-message-schema.json",
    "TransferStartMessage": "transfer/transfer-start-message-schema.json",
    "TransferSuspensionMessage": "transfer/transfer-suspension-message-schema.json",
    "TransferCompletionMessage": "transfer/transfer-completion-message-schema.json",
    "TransferTerminationMessage": "transfer/transfer-termination-message-schema.json",
    "TransferProcess": "transfer/transfer-process-schema.json",
    "TransferError": "transfer/transfer-error-schema.json",
    "DataAddress": "transfer/data-address-schema.json",
    "VersionResponse": "common/protocol-version-schema.json",
    "DidService": "common/did-service-schema.json",
}

_CONTEXT_FILES: Mapping[str, str] = {
    DSP_CONTEXT: "dspace.jsonld",
    ODRL_PROFILE_CONTEXT: "odrl.jsonld",
}

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_JSON_TYPES = {
    dict: "an object",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


def spec_root() -> Traversable:
    """The vendored official files (schemas/, context/, examples/, LICENSE, NOTICE.md)."""
    from importlib import resources

    return resources.files("connector.dsp") / "spec"


def _schema_files() -> Iterator[Traversable]:
    for protocol in (spec_root() / "schemas").iterdir():
        if protocol.is_dir():
            for entry in protocol.iterdir():
                if entry.name.endswith("-schema.json"):
                    yield entry


def _fix_fragment_refs(node: Any) -> Any:
    # Three upstream transfer schemas write "#definitions/X" (no slash), which is not a JSON pointer.
    if isinstance(node, dict):
        fixed = {key: _fix_fragment_refs(value) for key, value in node.items()}
        ref = fixed.get("$ref")
        if isinstance(ref, str) and "#definitions/" in ref:
            fixed["$ref"] = ref.replace("#definitions/", "#/definitions/")
        return fixed
    if isinstance(node, list):
        return [_fix_fragment_refs(item) for item in node]
    return node


@cache
def _schemas() -> tuple[Any, ...]:
    """Every vendored schema, parsed once (for the registry and for `_sensitivity`)."""
    return tuple(_fix_fragment_refs(json.loads(entry.read_text(encoding="utf-8"))) for entry in _schema_files())


@cache
def _registry() -> Registry:
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT201909

    resources_by_id = [
        (contents["$id"], Resource.from_contents(contents, default_specification=DRAFT201909))
        for contents in _schemas()
    ]
    return Registry().with_resources(resources_by_id).crawl()


@cache
def validator(kind: str) -> Draft201909Validator:
    """The compiled validator for one message kind (see SCHEMA_FILES)."""
    try:
        relative = SCHEMA_FILES[kind]
    except KeyError:
        raise ConnectorError("dsp.unknown_schema", f"there is no DSP schema for '{kind}'", kind=kind) from None
    from jsonschema import Draft201909Validator

    registry = _registry()
    schema = registry.contents(DSP_NAMESPACE + relative)
    return Draft201909Validator(schema, registry=registry)


def validate(kind: str, document: Any) -> list[Problem]:
    """Every way `document` fails the official schema of `kind`, each naming the JSON path of the failure.

    An empty list means the document is valid. Input from peers goes through `messages.parse_message`, which
    bounds nesting depth before validating.
    """
    key = _shape_key(document)
    known = _VALID_SHAPES.setdefault(kind, {})
    if key is not None and key in known:
        return []
    problems = _validate(kind, document)
    if key is not None and not problems:
        if len(known) >= MAX_SHAPES:
            known.clear()  # rare: only many distinct valid shapes get here; start over rather than grow
        known[key] = True
    return problems


def _validate(kind: str, document: Any) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[tuple[str | None, str]] = set()
    for error in validator(kind).iter_errors(document):
        for where, reason in _describe(error):
            if (where, reason) not in seen:
                seen.add((where, reason))
                problems.append(Problem(INVALID_MESSAGE, reason, where, {"schema": kind, "keyword": error.validator}))
    return problems


# --- shapes --------------------------------------------------------------------------------------------------
#
# What the vendored schemas can tell apart in a document: its structure (object keys, array lengths, JSON types),
# its numbers, booleans and nulls, and in a string only whether it equals a string some `const` or `enum` names
# and whether each `pattern` matches it (format is not asserted; no minLength, maxLength or uniqueItems occur:
# `_sensitivity` checks this and turns the shortcut off otherwise). The shape keeps exactly that and nothing
# else, so two documents of one shape are valid or invalid together.

MAX_SHAPES = 1024  # per message kind
MAX_SHAPE_NODES = 2000  # larger documents (big catalogues) are validated every time rather than remembered
_VALID_SHAPES: dict[str, dict[Any, bool]] = {}
_OBJECT, _ARRAY, _STRING, _TRUE, _FALSE, _NULL = (object() for _ in range(6))


class _Unshaped(Exception):
    """The document has no shape worth remembering (too large, or a value JSON does not have)."""


# For a pattern of the vendored schemas, a cheaper one that every string it matches also matches: a string
# the cheap one does not match cannot match the real one, so the real search (slow on long strings: it has no
# literal to start from) runs only when it might succeed. The agreement timestamp's pattern always contains
# "-MM-DDT" (tested against the real pattern in tests/dsp).
_PREFILTERS: Mapping[str, str] = {
    "-?([1-9][0-9]{3,}|0[0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T(([01][0-9]|2[0-3]):[0-5][0-9]:[0-5]"
    "[0-9](\\.[0-9]+)?|(24:00:00(\\.0+)?))(Z|(\\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00))?": "-[0-9][0-9]-[0-9][0-9]T",
}

Tests = tuple[tuple[re.Pattern[str] | None, re.Pattern[str]], ...]


@cache
def _sensitivity() -> tuple[frozenset[str], Tests] | None:
    """(strings named by const/enum, the patterns) over every vendored schema; None if shapes would be unsound."""
    strings: set[str] = set()
    patterns: list[str] = []
    unsound = False

    def strings_in(value: Any) -> None:
        if isinstance(value, str):
            strings.add(value)
        elif isinstance(value, dict):
            for item in value.values():
                strings_in(item)
        elif isinstance(value, list):
            for item in value:
                strings_in(item)

    def walk(node: Any) -> None:
        nonlocal unsound
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if key == "const":
                strings_in(value)
            elif key == "enum" and isinstance(value, list):
                strings_in(value)
            elif key == "pattern" and isinstance(value, str):
                patterns.append(value)
            elif key in ("minLength", "maxLength") and isinstance(value, int):
                unsound = True
            elif key == "uniqueItems" and value is True:
                unsound = True
            walk(value)

    for schema in _schemas():
        walk(schema)
    if unsound:
        return None
    # jsonschema's `pattern` is re.search with the pattern as written; the compiled form gives the same answer.
    tests = tuple(
        (re.compile(_PREFILTERS[p]) if p in _PREFILTERS else None, re.compile(p)) for p in sorted(set(patterns))
    )
    return frozenset(strings), tests


def _shape_key(document: Any) -> Any:
    """The shape of `document` (hashable), or None when it is not to be remembered."""
    sensitivity = _sensitivity()
    if sensitivity is None:
        return None
    named, patterns = sensitivity
    budget = [MAX_SHAPE_NODES]

    def shape(value: Any) -> Any:
        budget[0] -= 1
        if budget[0] < 0:
            raise _Unshaped
        kind = type(value)
        if kind is str:
            if value in named:
                return value
            return (
                _STRING,
                *[
                    (pre is None or pre.search(value) is not None) and p.search(value) is not None
                    for pre, p in patterns
                ],
            )
        if kind is dict:
            return (_OBJECT, *[(k, shape(v)) for k, v in value.items()])
        if kind is list:
            return (_ARRAY, *[shape(v) for v in value])
        if kind is bool:
            return _TRUE if value else _FALSE
        if value is None:
            return _NULL
        if kind is int or kind is float:
            return (kind, value)
        raise _Unshaped

    try:
        return shape(document)
    except (_Unshaped, RecursionError):
        return None


def context_document(url: str) -> Any:
    """The vendored JSON-LD context published at `url`, for an offline document loader."""
    try:
        name = _CONTEXT_FILES[url]
    except KeyError:
        raise ConnectorError(
            "dsp.unknown_context", f"the JSON-LD context '{url}' is not available offline", url=url
        ) from None
    return json.loads((spec_root() / "context" / name).read_text(encoding="utf-8"))


def json_path(parts: Iterable[str | int]) -> str:
    """`$`-rooted path: `$.offer.permission[0]['@id']`."""
    rendered = ["$"]
    for part in parts:
        if isinstance(part, int):
            rendered.append(f"[{part}]")
        elif _IDENTIFIER.fullmatch(part):
            rendered.append(f".{part}")
        else:
            escaped = part.replace("\\", "\\\\").replace("'", "\\'")
            rendered.append(f"['{escaped}']")
    return "".join(rendered)


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _quote(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _only_required(subschemas: Any) -> list[list[str]] | None:
    """For oneOf/anyOf whose branches are all bare `required` lists, those lists; else None."""
    if not isinstance(subschemas, list):
        return None
    lists = []
    for branch in subschemas:
        if not (isinstance(branch, dict) and set(branch) == {"required"}):
            return None
        lists.append(list(branch["required"]))
    return lists


def _either(words: list[str], joiner: str = "or") -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + f" {joiner} " + words[-1]


def _names(lists: list[list[str]], joiner: str) -> str:
    return _either([f"'{name}'" for names in lists for name in names], joiner)


def _describe(error: ValidationError) -> list[tuple[str, str]]:
    path = list(error.absolute_path)
    here = json_path(path)
    keyword = error.validator
    value = error.validator_value
    instance = error.instance

    if keyword == "required":
        present = instance if isinstance(instance, dict) else {}
        return [
            (json_path([*path, name]), f"the required property '{name}' is missing")
            for name in value
            if name not in present
        ]
    if keyword in ("oneOf", "anyOf"):
        alternatives = _only_required(value)
        if alternatives is not None:
            if keyword == "oneOf" and not error.context:
                return [(here, f"only one of {_names(alternatives, 'and')} may be present, not several")]
            which = "exactly one" if keyword == "oneOf" else "at least one"
            return [(here, f"{which} of {_names(alternatives, 'or')} must be present")]
        if not error.context:
            return [(here, "the value matches more than one alternative of the schema, but must match exactly one")]
        return _describe_alternatives(error.context, here, instance)
    if keyword == "not":
        if isinstance(value, dict) and set(value) == {"required"}:
            return [
                (json_path([*path, name]), f"the property '{name}' is not allowed here") for name in value["required"]
            ]
        return [(here, "the value has a form the schema forbids here")]
    if keyword == "type":
        return [(here, f"must be {_either([_article(t) for t in _as_list(value)])}, not {_json_type(instance)}")]
    if keyword == "const":
        return [(here, f"must be {_quote(value)}, not {_quote(instance)}")]
    if keyword == "enum":
        return [(here, f"must be one of {', '.join(_quote(v) for v in value)}, not {_quote(instance)}")]
    if keyword == "contains":
        if isinstance(value, dict) and "const" in value:
            return [(here, f"must contain {_quote(value['const'])}")]
        return [(here, "must contain an item of the required form")]
    if keyword == "minItems":
        return [(here, f"must have at least {value} item{'s' if value != 1 else ''}")]
    if keyword == "pattern":
        return [(here, f"must match the pattern {_quote(value, 60)}")]
    message = error.message
    return [(here, message if len(message) <= 200 else message[:197] + "...")]


def _describe_alternatives(errors: list[ValidationError], here: str, instance: Any) -> list[tuple[str, str]]:
    """Explain why no alternative matched, from the alternative that got furthest into the document."""
    if all(e.validator == "type" and list(e.absolute_path) == list(errors[0].absolute_path) for e in errors):
        wanted = [t for e in errors for t in _as_list(e.validator_value)]
        return [(here, f"must be {_either([_article(t) for t in wanted])}, not {_json_type(instance)}")]
    furthest = max(
        errors, key=lambda e: (len(e.absolute_path), e.validator != "type", e.validator not in ("oneOf", "anyOf"))
    )
    return _describe(furthest)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _article(json_type: str) -> str:
    return {"object": "an object", "array": "an array", "integer": "an integer", "null": "null"}.get(
        json_type, f"a {json_type}"
    )
