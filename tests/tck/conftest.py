"""Fixtures of the TCK harness: one node on the TCK profile, one fake TCK and one client per test module."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from tck.client import CutEndpoints, TckClient
from tck.fake_tck import FakeTck
from tck.pipeline import Harness
from tck.profile import PROFILE, running_profile


def require_profile() -> None:
    if not PROFILE.exists():
        pytest.skip(f"the node's TCK profile {PROFILE.name} does not exist yet")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def cut(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[CutEndpoints]:
    """The node under test, on the TCK profile, with a fresh data folder."""
    require_profile()
    data_dir: Path = tmp_path_factory.mktemp("tck-node")
    async with running_profile(data_dir) as (_, endpoints):
        yield endpoints


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def tck() -> AsyncIterator[FakeTck]:
    async with FakeTck() as fake:
        yield fake


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def client(cut: CutEndpoints) -> AsyncIterator[TckClient]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as session:
        yield TckClient(session, cut)


@pytest.fixture
def harness(tck: FakeTck, client: TckClient, cut: CutEndpoints) -> Iterator[Harness]:
    tck.strict = False
    yield Harness(tck, client, cut)
    tck.cancel_waiters()
