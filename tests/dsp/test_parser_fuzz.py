"""The parser never fails with anything but ConnectorError, whatever JSON it is given."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.dsp.messages import MESSAGE_CLASSES, Message, parse_message
from connector.dsp.schemas import spec_root, validate
from connector.dsp.vocabulary import DSP_CONTEXT
from connector.errors import ConnectorError


def _message_examples() -> list[Any]:
    found = []
    for protocol in ("catalog", "negotiation", "transfer"):
        for entry in (spec_root() / "examples" / protocol).iterdir():
            found.append(json.loads(entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda doc: json.dumps(doc, sort_keys=True))


EXAMPLES = _message_examples()

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=25,
)
type_names = st.sampled_from(sorted(MESSAGE_CLASSES)) | st.text(max_size=20)


def _parse_or_refuse(body: Any) -> Message | None:
    try:
        message = parse_message(body)
    except ConnectorError as error:
        assert error.code.startswith("dsp.")
        assert error.where is None or error.where.startswith("$")
        return None
    # Whatever parses is schema-valid when emitted again, and stable.
    emitted = message.to_json()
    assert validate(message.TYPE, emitted) == []
    assert parse_message(emitted) == message
    return message


@given(json_values)
def test_arbitrary_json_is_parsed_or_refused_with_a_connector_error(body: Any) -> None:
    _parse_or_refuse(body)


@given(type_names, st.dictionaries(st.text(max_size=15), json_values, max_size=6))
def test_arbitrary_objects_with_a_dsp_type_are_parsed_or_refused(message_type: str, fields: dict[str, Any]) -> None:
    _parse_or_refuse({"@context": [DSP_CONTEXT], **fields, "@type": message_type})


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend(_paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_paths(value, (*prefix, index)))
    return found


def _mutate(document: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    if not path:
        return value if action == "replace" else document
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "replace":
        parent[last] = value
    elif action == "wrap":
        parent[last] = [parent[last]]
    elif action == "insert" and isinstance(parent[last], dict):
        parent[last]["extra"] = value
    return document


@st.composite
def mutated_examples(draw: st.DrawFn) -> Any:
    document = copy.deepcopy(draw(st.sampled_from(EXAMPLES)))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        paths = _paths(document)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["delete", "replace", "wrap", "insert"]))
        document = _mutate(document, path, action, draw(json_values))
    return document


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_examples())
def test_mutated_official_examples_are_parsed_or_refused(document: Any) -> None:
    _parse_or_refuse(document)
