"""Remembered shapes: a document of a shape already found valid skips the validator, with the same answer."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.dsp import schemas
from connector.dsp.schemas import SCHEMA_FILES, spec_root, validate


def _examples() -> list[tuple[str, Any]]:
    found = []
    for protocol in ("catalog", "negotiation", "transfer"):
        for entry in sorted((spec_root() / "examples" / protocol).iterdir(), key=lambda e: e.name):
            doc = json.loads(entry.read_text(encoding="utf-8"))
            if isinstance(doc, dict) and doc.get("@type") in SCHEMA_FILES:
                found.append((doc["@type"], doc))
    return found


EXAMPLES = _examples()
TIMESTAMP_PATTERN = next(p for p in schemas._PREFILTERS)

texts = st.text(max_size=30) | st.sampled_from(
    ["", "ACCEPTED", "FINALIZED", "2024-01-31T10:00:00Z", "Offer", "https://example.org/catalog", "dspace:PULL"]
)
scalars = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False, width=16) | texts


def _paths(node: Any, here: tuple = ()) -> list[tuple]:
    out = [here]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, here + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, here + (index,))
    return out


def _set(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return doc


@st.composite
def variants(draw: Any) -> tuple[str, Any]:
    """An official example with a few of its values replaced (strings mostly), valid or not."""
    kind, example = draw(st.sampled_from(EXAMPLES))
    doc = copy.deepcopy(example)
    for _ in range(draw(st.integers(0, 3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        doc = _set(doc, path, draw(scalars))
    return kind, doc


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(variants(), min_size=1, max_size=6))
def test_remembered_shapes_give_the_validators_own_answer(documents):
    for kind, doc in documents:
        assert validate(kind, doc) == schemas._validate(kind, doc)


def test_a_second_message_of_the_same_shape_is_not_run_through_the_validator_again(monkeypatch):
    kind, example = next((k, d) for k, d in EXAMPLES if k == "ContractRequestMessage")
    first, second = copy.deepcopy(example), copy.deepcopy(example)
    first["consumerPid"], second["consumerPid"] = "urn:uuid:first", "urn:uuid:second"
    assert validate(kind, first) == []
    ran = []
    monkeypatch.setattr(schemas, "_validate", lambda *a: ran.append(a) or [])
    assert validate(kind, second) == []
    assert ran == []


def test_an_invalid_document_is_always_described_by_the_validator():
    kind, example = next((k, d) for k, d in EXAMPLES if k == "ContractRequestMessage")
    broken = copy.deepcopy(example)
    del broken["offer"]
    first, again = validate(kind, broken), validate(kind, broken)
    assert first and first == again == schemas._validate(kind, broken)


def test_the_agreement_timestamp_pattern_of_the_schemas_has_its_prefilter():
    sensitivity = schemas._sensitivity()
    assert sensitivity is not None
    _, tests = sensitivity
    assert [pre is not None for pre, pattern in tests if pattern.pattern == TIMESTAMP_PATTERN] == [True]


@settings(max_examples=300, deadline=None)
@given(st.from_regex(TIMESTAMP_PATTERN) | st.text(alphabet="0123456789-T:.Z+x", max_size=40))
def test_every_string_the_timestamp_pattern_finds_something_in_passes_its_prefilter(text):
    prefilter = re.compile(schemas._PREFILTERS[TIMESTAMP_PATTERN])
    if re.search(TIMESTAMP_PATTERN, text):
        assert prefilter.search(text)
