"""Files the console's forms take from the operator, who may have been handed them by anyone: whatever they hold
ends in the form shown again with the field's error, never in a server error."""

from __future__ import annotations

import aiohttp
import pytest
from console.kit import ConsoleClient, csrf_of
from nodekit import make_participant, running_node, write_config

pytestmark = pytest.mark.e2e


async def test_a_bundle_nested_past_reading_is_the_bundle_fields_error(authority, tmp_path):
    org = make_participant(authority, tmp_path, "org")
    async with running_node(write_config(org, tmp_path)):
        client = ConsoleClient(f"http://127.0.0.1:{org.management_port}/console")
        try:
            await client.login()
            _, page = await client.get("/evidence")
            form = aiohttp.FormData()
            form.add_field("csrf", csrf_of(page))
            form.add_field("bundle", b"[" * 100_000, filename="deep.bundle.json")
            form.add_field("trust_lists", b"not read", filename="federation.jws")
            resp, page = await client.request("POST", "/evidence/verify", data=form)
        finally:
            await client.close()
    assert resp.status == 400, page[:500]
    assert "deep.bundle.json nests arrays and objects too deeply to be read" in page
