"""The store's contract: every statement of connector.store.sql, run through the seam (`Store.run` / `Store.read`
with functions taking a `Tx`), once against each backend of `store.kit.BACKENDS`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from store.kit import BACKENDS, Backend

from connector.store.interface import Store


@pytest.fixture(params=sorted(BACKENDS))
async def backend(request: Any) -> AsyncIterator[Backend]:
    async with BACKENDS[request.param](request) as opened:
        yield opened


@pytest.fixture
def store(backend: Backend) -> Store:
    return backend.store
