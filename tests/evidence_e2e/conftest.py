"""Fixtures of the evidence end-to-end tests: one exchange per session, trust lists as the auditor gets them."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from evidence_e2e.kit import Exchange, run_exchange

from connector.evidence.audit import load_trust_list
from connector.trust.trust_list import TrustList


@pytest.fixture(scope="session")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Exchange:
    return asyncio.run(run_exchange(tmp_path_factory.mktemp("exchange")))


@pytest.fixture(scope="session")
def trust_lists(exchange: Exchange) -> list[TrustList]:
    return [load_trust_list(exchange.trust_list.read_text(), datetime.now(UTC))]


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def fresh_dir(tmp_path: Path) -> Path:
    """A folder on which no node ever ran: the auditor's machine."""
    path = tmp_path / "auditor"
    path.mkdir()
    return path
