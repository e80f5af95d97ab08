"""CORS on the management API, with the requests a browser makes: off by default (no preflight succeeds, no
response names an origin); with `management.cors_origins`, a preflight from a listed origin is answered without
the API key, the real request still needs it, and any other origin is refused."""

from __future__ import annotations

import aiohttp
from nodekit import API_KEY, make_participant, running_node, write_config

CONSOLE = "https://console.example:8443"


async def _request(port: int, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, f"http://127.0.0.1:{port}{path}", headers=headers) as resp:
            await resp.read()
            return resp.status, dict(resp.headers)


def _preflight(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "x-api-key, content-type",
    }


async def test_cross_origin_calls_are_refused_by_default(authority, tmp_path):
    p = make_participant(authority, tmp_path, "org-a")
    async with running_node(write_config(p, tmp_path)):
        status, headers = await _request(p.management_port, "OPTIONS", "/v1/assets", _preflight(CONSOLE))
        assert status >= 400 and "Access-Control-Allow-Origin" not in headers, (status, headers)
        status, headers = await _request(
            p.management_port, "GET", "/v1/assets", {"Origin": CONSOLE, "X-Api-Key": API_KEY}
        )
        assert status == 200 and "Access-Control-Allow-Origin" not in headers, headers


async def test_a_configured_origin_may_call_the_api_from_a_browser_with_the_key(authority, tmp_path):
    p = make_participant(authority, tmp_path, "org-a")
    config = write_config(p, tmp_path, extra="")
    text = config.read_text().replace("[management]\n", f'[management]\ncors_origins = ["{CONSOLE}"]\n', 1)
    config.write_text(text)
    port = p.management_port
    async with running_node(config):
        status, headers = await _request(port, "OPTIONS", "/v1/assets", _preflight(CONSOLE))
        assert status == 204, (status, headers)
        assert headers["Access-Control-Allow-Origin"] == CONSOLE
        assert "POST" in headers["Access-Control-Allow-Methods"]
        allowed = {h.strip().lower() for h in headers["Access-Control-Allow-Headers"].split(",")}
        assert {"x-api-key", "content-type"} <= allowed
        assert int(headers["Access-Control-Max-Age"]) > 0
        assert "Origin" in headers["Vary"]

        status, headers = await _request(port, "GET", "/v1/assets", {"Origin": CONSOLE, "X-Api-Key": API_KEY})
        assert status == 200 and headers["Access-Control-Allow-Origin"] == CONSOLE
        assert "X-Request-Id" in headers["Access-Control-Expose-Headers"]
        # The key is still required; the refusal is readable by the page (it names the origin).
        status, headers = await _request(port, "GET", "/v1/assets", {"Origin": CONSOLE})
        assert status == 401 and headers["Access-Control-Allow-Origin"] == CONSOLE

        other = "https://evil.example"
        status, headers = await _request(port, "OPTIONS", "/v1/assets", _preflight(other, "DELETE"))
        assert status == 403 and "Access-Control-Allow-Origin" not in headers
        status, headers = await _request(port, "GET", "/v1/assets", {"Origin": other, "X-Api-Key": API_KEY})
        assert "Access-Control-Allow-Origin" not in headers


def test_an_origin_that_is_not_one_is_refused_at_start(authority, tmp_path):
    import pytest

    from connector.config import load_config
    from connector.errors import ConfigError

    config = write_config(make_participant(authority, tmp_path, "org-a"), tmp_path)
    good = load_config(config, environ={"CONNECTOR__MANAGEMENT__CORS_ORIGINS": f'["{CONSOLE}", "http://[::1]:3000"]'})
    assert good.management.cors_origins == (CONSOLE, "http://[::1]:3000")
    assert load_config(config, environ={}).management.cors_origins == ()
    for bad in ("*", "https://console.example/app", "console.example", "null"):
        with pytest.raises(ConfigError) as refused:
            load_config(config, environ={"CONNECTOR__MANAGEMENT__CORS_ORIGINS": f'["{bad}"]'})
        assert refused.value.where == "management.cors_origins", refused.value
