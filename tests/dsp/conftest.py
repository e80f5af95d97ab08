"""Fixtures over the official DSP 2025-1 example files vendored in connector/dsp/spec/examples."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from connector.dsp.schemas import spec_root


def _load_examples() -> dict[str, Any]:
    found = {}
    for protocol in (spec_root() / "examples").iterdir():
        for entry in protocol.iterdir():
            if entry.name.endswith(".json"):
                found[f"{protocol.name}/{entry.name}"] = json.loads(entry.read_text(encoding="utf-8"))
    return found


EXAMPLES = _load_examples()
# Examples that are DSP messages (everything but the DID service entries and the version document).
MESSAGE_EXAMPLES = sorted(name for name in EXAMPLES if not name.startswith("common/"))


@pytest.fixture(params=sorted(EXAMPLES))
def official_example(request: pytest.FixtureRequest) -> tuple[str, Any]:
    return request.param, copy.deepcopy(EXAMPLES[request.param])


@pytest.fixture(params=MESSAGE_EXAMPLES)
def message_example(request: pytest.FixtureRequest) -> tuple[str, Any]:
    return request.param, copy.deepcopy(EXAMPLES[request.param])


@pytest.fixture
def examples() -> dict[str, Any]:
    return copy.deepcopy(EXAMPLES)
