"""The console on nodes configured as the examples and the demo configure them: no CRL file (`trust.crl` unset),
the authority's CRL fetched from the distribution point its certificates name. The node page shows that CRL (and
says when it cannot be fetched), and *Fetch the data* pulls with it."""

from __future__ import annotations

import asyncio
import re
import time
from urllib.parse import quote

import pytest
from console.kit import WEATHER, ConsoleClient, dataspace

pytestmark = pytest.mark.e2e


def _offer_of(page: str, dataset: str) -> str:
    found = re.search(rf'name="dataset" value="{dataset}">\s*<input type="hidden" name="offer" value="([^"]+)"', page)
    assert found is not None, f"no offer of {dataset} on the catalogue page"
    return found.group(1)


async def test_the_crls_the_node_fetched_are_shown_and_a_fetch_pulls_with_them(tmp_path):
    async with dataspace(tmp_path, crl_files=False) as space:
        client = ConsoleClient(space.consumer_console, space.consumer_ssl())
        try:
            await client.login()
            _, node = await client.get("/")
            held = re.search(r"<th scope=\"row\">revocation list</th>\s*<td><code[^>]*>([^<]*)</code>", node)
            assert held is not None and "Test Federation" in held.group(1), node
            catalog = "/catalog?address=" + quote(space.provider_dsp, safe="")
            _, page = await client.get(catalog)
            fields = {
                "peer": "",
                "address": space.provider_dsp,
                "id": space.provider.participant_id,
                "dataset": "weather",
                "offer": _offer_of(page, "weather"),
                "purpose": "forecasting",
                "then": "fetch",
            }
            resp, text = await client.form(catalog, "/catalog/negotiate", fields)
            notice = re.search(r'<p class="notice"[^>]*>([^<]*)', text)
            assert "/console/fetches/" in str(resp.url), notice.group(1) if notice else text[:500]
            deadline = time.monotonic() + 60
            while "Working:" in text and time.monotonic() < deadline:
                await asyncio.sleep(0.3)
                _, text = await client.get(str(resp.url))
            assert "Fetched, and the provider's seal verified." in text, text
            download, data = await client.get(str(resp.url) + "/data")
            assert download.status == 200 and data == WEATHER.decode()
        finally:
            await client.close()


async def test_the_node_page_says_when_its_trust_material_cannot_be_refreshed(tmp_path):
    async with dataspace(tmp_path, crl_files=False) as space:
        client = ConsoleClient(space.consumer_console, space.consumer_ssl())
        try:
            await client.login()
            _, node = await client.get("/")
            assert "needing attention" not in node
            await space.federation.stop()  # the authority's service, and its CRL's distribution point, are gone
            deadline = time.monotonic() + 30
            while "needing attention" not in node and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                _, node = await client.get("/")
            told = re.search(r'<div class="problem"[^>]*>\s*<p>Trust material needing attention.*?</div>', node, re.S)
            assert told is not None, node
            said = re.sub(r"<[^>]+>", "", told.group(0))
            assert "crl" in said and "Test Federation" in said and "stale" in said, said
            assert f"cannot reach https://localhost:{space.federation.port}/crl.pem" in said, said
        finally:
            await client.close()
