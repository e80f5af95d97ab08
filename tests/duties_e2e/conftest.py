"""Fixtures of the usage-duty tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from dataplane_e2e.kit import Pair
from duties_e2e.kit import duties_pair


@pytest.fixture
def pair(authority, tmp_path: Path) -> Pair:
    """A provider with a data root and a consumer with a data root and an inbox (configured, not yet running)."""
    return duties_pair(authority, tmp_path)
