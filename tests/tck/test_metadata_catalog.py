"""MET:01-01 and CAT:01-01 ... CAT:01-03: the version document and the catalogue (TCK.md section 4)."""

from __future__ import annotations

import pytest
from tck.client import TckClient

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_MET_01_01_version_document_names_2025_1(client: TckClient) -> None:
    document = await client.version()
    assert any(entry.get("version") == "2025-1" for entry in document["protocolVersions"])


async def test_CAT_01_01_catalog_request_lists_the_seeded_dataset(client: TckClient) -> None:
    catalog = await client.catalog()
    assert "CAT0101" in client.dataset_ids(catalog)


async def test_CAT_01_02_dataset_request_returns_the_dataset(client: TckClient) -> None:
    dataset = await client.dataset("CAT0102")
    assert dataset["@id"] == "CAT0102"


async def test_CAT_01_03_unknown_dataset_is_a_catalog_error(client: TckClient) -> None:
    reply = await client.missing_dataset("CAT0103")
    assert reply.body["@type"] == "CatalogError"
