"""Requests to peers leave only for the participant they are meant for: the server's certificate is checked
after the handshake and before a byte of the request is written; no redirects; https only."""

from __future__ import annotations

import ssl

import pytest
from aiohttp import web
from nodekit import make_participant

from connector.errors import ConnectorError
from connector.web.outgoing import OutgoingHttp
from connector.web.peer_client import PeerClient
from connector.web.tls import PeerTls


@pytest.fixture
async def server(authority, tmp_path):
    """An https server with the certificate of participant `target`, counting what reaches it."""
    target = make_participant(authority, tmp_path, "target")
    seen: list[str] = []

    async def anything(request: web.Request) -> web.StreamResponse:
        seen.append(request.path)
        if request.path == "/moved":
            raise web.HTTPFound("/elsewhere")
        if request.path == "/deep":
            return web.Response(body=b"[" * 100_000, content_type="application/json")
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", anything)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(target.tls_cert, target.tls_key)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", target.protocol_port, ssl_context=ctx)
    await site.start()
    yield target, seen
    await runner.cleanup()


@pytest.fixture
async def client(authority, tmp_path):
    me = make_participant(authority, tmp_path, "me")
    tls = PeerTls(me.tls_cert, me.tls_key, (authority.ca_cert_path,), (authority.crl_path,))
    http = OutgoingHttp(tls)
    yield PeerClient(http)
    await http.close()


async def test_a_request_for_another_participant_is_not_sent_to_this_server(server, client):
    target, seen = server
    url = f"https://localhost:{target.protocol_port}/dsp/2025-1/negotiations/request"
    with pytest.raises(ConnectorError) as err:
        await client.post(url, {"a": 1}, expected_peer="did:web:localhost%3A1:someone-else")
    assert err.value.code == "peer.identity_mismatch" and target.participant_id in err.value.reason
    assert seen == [], "not a byte of the request reached the wrong server"
    # The same server, for the participant it is: the request goes out (a fresh or a pooled connection).
    answer = await client.post(url, {"a": 1}, expected_peer=target.participant_id)
    assert answer.ok and seen == ["/dsp/2025-1/negotiations/request"]
    with pytest.raises(ConnectorError):
        await client.post(url, {"a": 1}, expected_peer="did:web:localhost%3A1:someone-else")
    assert len(seen) == 1, "a pooled connection is checked too"


async def test_redirects_are_not_followed(server, client):
    target, seen = server
    answer = await client.post(
        f"https://localhost:{target.protocol_port}/moved", {}, expected_peer=target.participant_id
    )
    assert answer.status == 302 and seen == ["/moved"]


@pytest.mark.parametrize("url", ["http://localhost:1/cb", "ftp://localhost/x", "localhost:1/cb"])
async def test_peers_are_reached_over_https_only(client, url):
    with pytest.raises(ConnectorError) as err:
        await client.post(url, {})
    assert err.value.code == "peer.insecure_url"


async def test_an_answer_nested_past_reading_is_an_answer_without_json(server, client):
    target, _ = server
    url = f"https://localhost:{target.protocol_port}/deep"
    answer = await client.post(url, {}, expected_peer=target.participant_id)
    assert answer.status == 200 and answer.body is None and answer.text.startswith("[[[")
