"""Fixtures shared by the whole suite: authorities and participants made with the project's own PKI tool."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.pki.authority import Authority


@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    return Authority.init(tmp_path / "authority", "Test Federation")


@pytest.fixture
def other_authority(tmp_path: Path) -> Authority:
    return Authority.init(tmp_path / "other-authority", "Other Federation")
