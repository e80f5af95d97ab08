"""/metrics behind the API key or open to a scraper (`management.metrics_public`), and the access log of the
management listener: lines with the full date and time zone, and no `peer=None`."""

from __future__ import annotations

import io
import logging
import re

import aiohttp
from nodekit import API_KEY, Management, get, make_participant, running_node, write_config

from connector.log import TextFormatter


async def _status(port: int, path: str, key: str | None = None) -> int:
    headers = {"X-Api-Key": key} if key else {}
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}{path}", headers=headers) as resp:
            await resp.read()
            return resp.status


async def test_metrics_need_the_api_key_unless_configured_open(authority, tmp_path):
    p = make_participant(authority, tmp_path, "org-a")
    config = write_config(p, tmp_path)
    async with running_node(config):
        assert await _status(p.management_port, "/metrics") == 401
        assert await _status(p.management_port, "/metrics", API_KEY) == 200
        doc = await Management(p).call("GET", "/v1/openapi.json", None, 200)
        assert "security" not in doc["paths"]["/metrics"]["get"]
    config.write_text(config.read_text().replace("[management]\n", "[management]\nmetrics_public = true\n", 1))
    async with running_node(config):
        assert await _status(p.management_port, "/metrics") == 200
        assert await _status(p.management_port, "/v1/assets") == 401  # the rest stays behind the key
        doc = await Management(p).call("GET", "/v1/openapi.json", None, 200)
        assert doc["paths"]["/metrics"]["get"]["security"] == []


async def test_access_lines_carry_date_and_zone_and_name_a_peer_only_when_there_is_one(authority, tmp_path):
    provider = make_participant(authority, tmp_path, "provider")
    consumer = make_participant(authority, tmp_path, "consumer")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter())
    access = logging.getLogger("connector.access")
    access.addHandler(handler)
    level = access.level
    access.setLevel(logging.INFO)
    try:
        async with running_node(write_config(provider, tmp_path)):
            await Management(provider).call("GET", "/v1/assets", None, 200)
            status, _ = await get(f"http://127.0.0.1:{provider.management_port}/check/health")
            assert status == 200
            url = f"https://localhost:{provider.protocol_port}/.well-known/dspace-version"
            status, _ = await get(url, consumer.client_ssl())
            assert status == 200
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
    lines = stream.getvalue().splitlines()
    management = [line for line in lines if " /v1/assets " in line or " /check/health " in line]
    protocol = [line for line in lines if "dspace-version" in line]
    assert len(management) == 2 and len(protocol) == 1, lines
    stamp = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2} "
    assert all(re.match(stamp, line) for line in lines), lines
    assert not any("peer=" in line for line in management), management
    assert f"peer={consumer.participant_id}" in protocol[0], protocol
