"""Hostile clients on the wire, against a real node over mutual TLS: oversized, malformed, slow and greedy
requests each get a clear 4xx (or 503 with Retry-After) in the protocol's error body, and cannot hold the
node's memory or its connections."""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path

import aiohttp
import pytest
from nodekit import API_KEY, make_participant, running_node, write_config

DSP = "/dsp/2025-1"
POST_ENDPOINTS = [
    "/catalog/request",
    "/negotiations/request",
    "/negotiations/x/request",
    "/negotiations/x/events",
    "/negotiations/x/agreement/verification",
    "/negotiations/x/termination",
    "/negotiations/offers",
    "/negotiations/x/offers",
    "/negotiations/x/agreement",
    "/transfers/request",
    "/transfers/x/start",
    "/transfers/x/completion",
    "/transfers/x/suspension",
    "/transfers/x/termination",
]
ERROR_TYPES = {"negotiations": "ContractNegotiationError", "transfers": "TransferError", "catalog": "CatalogError"}
LIMITS = """
[limits]
max_message_bytes = 65536
header_timeout = 0.5
idle_timeout = 1.0
body_timeout = 0.5
max_connections_per_peer = 4
max_requests_per_peer = 2
"""


@pytest.fixture
def nodes(authority, tmp_path):
    provider = make_participant(authority, tmp_path, "provider")
    peer = make_participant(authority, tmp_path, "peer")
    return provider, peer, write_config(provider, tmp_path, extra=LIMITS)


def _error_type(endpoint: str) -> str:
    return ERROR_TYPES[endpoint.split("/")[1]]


async def _post(session: aiohttp.ClientSession, url: str, data: bytes, **headers: str) -> tuple[int, dict, dict]:
    async with session.post(url, data=data, headers={"Content-Type": "application/json", **headers}) as resp:
        return resp.status, json.loads(await resp.text()), dict(resp.headers)


async def test_malformed_json_is_a_400_with_the_protocols_error_body_on_every_endpoint(nodes):
    provider, peer, config = nodes
    deep = b"[" * 100_000 + b"]" * 100_000
    bad = {
        "nested 100k deep": deep,
        "invalid UTF-8": b'{"@type": "\xff\xfe"}',
        "NaN": b'{"@type": "CatalogRequestMessage", "n": NaN}',
        "Infinity": b'{"@type": "CatalogRequestMessage", "n": -Infinity}',
        "1e400": b'{"@type": "CatalogRequestMessage", "n": 1e400}',
    }
    async with running_node(config):
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=peer.client_ssl())) as session:
            for endpoint in POST_ENDPOINTS:
                for what, body in bad.items():
                    url = f"https://localhost:{provider.protocol_port}{DSP}{endpoint}"
                    if what == "nested 100k deep":
                        body = body[:60_000]  # below the size limit: the depth is what is refused
                    status, error, _ = await _post(session, url, body)
                    assert status == 400, (endpoint, what, status, error)
                    assert error["@type"] == _error_type(endpoint), (endpoint, what, error)
                    assert error["code"] == "request.invalid_json" and error["reason"], (endpoint, what, error)


async def test_a_declared_oversized_body_is_refused_before_it_is_read(nodes):
    provider, peer, config = nodes
    async with running_node(config):
        reader, writer = await asyncio.open_connection(
            "localhost", provider.protocol_port, ssl=peer.client_ssl(), server_hostname="localhost"
        )
        try:
            # 5 MiB announced, nothing sent: the answer comes at once, and the connection is closed after it.
            writer.write(
                f"POST {DSP}/catalog/request HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                f"Content-Length: {5 * 1024 * 1024}\r\n\r\n".encode()
            )
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 413"), head
            assert b"connection: close" in head.lower()
            rest = await asyncio.wait_for(reader.read(), 5)
            assert json.loads(rest)["code"] == "request.too_large"
        finally:
            writer.close()


async def test_a_body_larger_than_declared_or_undeclared_is_cut_at_the_limit(nodes):
    provider, peer, config = nodes
    url = f"https://localhost:{provider.protocol_port}{DSP}/negotiations/request"

    async def chunks():
        for _ in range(200):  # 200 x 4 KiB: past the 64 KiB limit, sent without a Content-Length
            yield b" " * 4096

    async with running_node(config):
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=peer.client_ssl())) as session:
            async with session.post(url, data=chunks(), headers={"Content-Type": "application/json"}) as resp:
                status, error = resp.status, json.loads(await resp.text())
    assert status == 413 and error["code"] == "request.too_large" and error["@type"] == "ContractNegotiationError"


async def test_a_body_that_does_not_arrive_in_time_is_refused_and_the_connection_closed(nodes):
    provider, peer, config = nodes
    async with running_node(config):
        reader, writer = await asyncio.open_connection(
            "localhost", provider.protocol_port, ssl=peer.client_ssl(), server_hostname="localhost"
        )
        try:
            writer.write(
                f"POST {DSP}/catalog/request HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                "Content-Length: 100\r\n\r\n{".encode()
            )
            await writer.drain()
            answer = await asyncio.wait_for(reader.read(), 5)
            assert answer.startswith(b"HTTP/1.1 408"), answer[:100]
            assert b'"request.timeout"' in answer
        finally:
            writer.close()


async def _opened(port: int, context: ssl.SSLContext) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("localhost", port, ssl=context, server_hostname="localhost")


async def test_a_connection_that_sends_no_request_head_in_time_is_closed(nodes):
    provider, peer, config = nodes
    async with running_node(config):
        reader, writer = await _opened(provider.protocol_port, peer.client_ssl())
        writer.write(b"POST /dsp/2025-1/catalog/request HTTP/1.1\r\nHost: local")  # and then nothing more
        await writer.drain()
        started = asyncio.get_running_loop().time()
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert asyncio.get_running_loop().time() - started < 3
        writer.close()


async def test_an_idle_keep_alive_connection_is_closed(nodes):
    provider, peer, config = nodes
    async with running_node(config):
        reader, writer = await _opened(provider.protocol_port, peer.client_ssl())
        writer.write(b"GET /.well-known/dspace-version HTTP/1.1\r\nHost: localhost\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200")
        length = int(next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(b":")[1])
        await reader.readexactly(length)
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed after idle_timeout (1 s)
        writer.close()


async def test_one_peer_cannot_hold_more_connections_than_its_share(nodes, authority, tmp_path):
    provider, peer, config = nodes
    other = make_participant(authority, tmp_path, "other")
    async with running_node(config):
        held = [await _opened(provider.protocol_port, peer.client_ssl()) for _ in range(4)]
        reader, writer = await _opened(provider.protocol_port, peer.client_ssl())
        writer.write(b"GET /.well-known/dspace-version HTTP/1.1\r\nHost: localhost\r\n\r\n")
        try:
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), 5) == b"", "a fifth connection of one peer is refused"
        except (ConnectionError, ssl.SSLError):
            pass  # refused during or right after the handshake: as good
        writer.close()
        # Another peer is still served, and so is the first once it lets a connection go.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=other.client_ssl())) as session:
            async with session.get(f"https://localhost:{provider.protocol_port}/.well-known/dspace-version") as r:
                assert r.status == 200
        for _, w in held:
            w.close()


async def test_requests_beyond_a_peers_concurrency_are_answered_503_with_retry_after(nodes, authority, tmp_path):
    provider, peer, config = nodes
    other = make_participant(authority, tmp_path, "other")
    head = (
        f"POST {DSP}/catalog/request HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        "Content-Length: 100\r\n\r\n{"
    ).encode()
    async with running_node(config):
        busy = []
        for _ in range(2):  # two requests of this peer in progress (their bodies still coming)
            reader, writer = await _opened(provider.protocol_port, peer.client_ssl())
            writer.write(head)
            await writer.drain()
            busy.append((reader, writer))
        await asyncio.sleep(0.1)
        url = f"https://localhost:{provider.protocol_port}{DSP}/catalog/request"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=peer.client_ssl())) as session:
            status, error, headers = await _post(session, url, b"{}")
        assert status == 503 and headers.get("Retry-After") == "1", (status, error)
        assert error["code"] == "request.busy" and error["@type"] == "CatalogError"
        # Another peer is not held up by the first one's share.
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=other.client_ssl())) as session:
            status, error, _ = await _post(session, url, b"{}")
        assert status == 400 and error["code"] == "dsp.invalid_message", error
        for _, writer in busy:
            writer.close()


async def test_the_management_api_answers_malformed_json_with_problem_details(nodes):
    provider, _, config = nodes
    base = f"http://127.0.0.1:{provider.management_port}"
    async with running_node(config):
        async with aiohttp.ClientSession(headers={"X-Api-Key": API_KEY}) as session:
            for body in (b"[" * 60_000, b'{"id": "\xff"}', b'{"id": "a", "n": NaN}'):
                async with session.post(base + "/v1/assets", data=body) as resp:
                    problem = json.loads(await resp.text())
                    assert resp.status == 400 and resp.content_type == "application/problem+json", problem
                    assert problem["code"] == "request.invalid_json" and problem["detail"]
            async with session.post(base + "/v1/assets", data=b" " * 70_000) as resp:
                assert resp.status == 413 and (await resp.json(content_type=None))["code"] == "request.too_large"


def _config_with(path: Path, old: str, new: str) -> Path:
    path.write_text(path.read_text().replace(old, new))
    return path


async def test_a_management_listener_off_loopback_needs_tls_or_an_explicit_choice(nodes):
    from connector.config import load_config
    from connector.errors import ConfigError

    provider, _, config = nodes
    remote = _config_with(config, 'listen = "127.0.0.1:', 'listen = "0.0.0.0:')
    with pytest.raises(ConfigError) as err:
        load_config(remote, environ={})
    assert err.value.where == "management.listen" and "plain HTTP" in err.value.reason
    allowed = load_config(remote, environ={"CONNECTOR__MANAGEMENT__ALLOW_PLAIN_HTTP_REMOTE": "true"})
    assert allowed.management.allow_plain_http_remote
    with_tls = load_config(
        remote,
        environ={
            "CONNECTOR__MANAGEMENT__TLS_CERT": str(provider.tls_cert),
            "CONNECTOR__MANAGEMENT__TLS_KEY": str(provider.tls_key),
        },
    )
    assert with_tls.management.tls_cert is not None


async def test_the_management_listener_serves_https_when_given_a_certificate(nodes):
    provider, _, config = nodes
    text = config.read_text().replace(
        "[management]\n", f'[management]\ntls_cert = "{provider.tls_cert}"\ntls_key = "{provider.tls_key}"\n'
    )
    config.write_text(text)
    context = ssl.create_default_context(cafile=str(provider.authority.ca_cert_path))
    context.check_hostname = False
    async with running_node(config):
        async with aiohttp.ClientSession() as session:
            async with session.get(f"https://127.0.0.1:{provider.management_port}/check/health", ssl=context) as r:
                assert r.status == 200
            with pytest.raises(aiohttp.ClientError):
                async with session.get(f"http://127.0.0.1:{provider.management_port}/check/health") as r:
                    await r.read()
