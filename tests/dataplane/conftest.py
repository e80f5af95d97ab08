"""Fixtures of the data-plane tests: a data folder and the context that sources are built in."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.sources import SourceContext


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    return root


@pytest.fixture
def context(data_root: Path, tmp_path: Path) -> SourceContext:
    return SourceContext(file_roots={"default": data_root}, environ={})
