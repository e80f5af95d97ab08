"""Fixtures of the data-plane end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from dataplane_e2e.kit import Pair, make_pair


@pytest.fixture
def pair(authority, tmp_path: Path) -> Pair:
    """A provider with a data root and a consumer with an inbox (configured, not yet running)."""
    return make_pair(authority, tmp_path)
