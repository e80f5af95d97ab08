"""What a peer serves is evidence at best, never a way to break the node's own evidence: a peer whose DID document
nests past any parser leaves the agreement's bundle whole, without the peer's document."""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

from aiohttp import web
from nodekit import Management, running_node

from connector.trust.did import parse_did


async def test_a_peer_did_document_nested_past_reading_is_left_out_of_the_bundle(exchange, tmp_path):
    config = exchange.copy_node("consumer", tmp_path)
    peer = exchange.provider
    where = urlsplit(parse_did(peer.participant_id).url)

    async def document(request: web.Request) -> web.Response:
        return web.Response(body=b"[" * 100_000, content_type="application/json")

    app = web.Application()
    app.router.add_get(where.path, document)
    runner = web.AppRunner(app)
    await runner.setup()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(peer.tls_cert, peer.tls_key)
    site = web.TCPSite(runner, "127.0.0.1", where.port, ssl_context=tls)  # where the peer was
    await site.start()
    try:
        async with running_node(config):
            m = Management(exchange.consumer)
            bundle = await m.call("GET", f"/v1/evidence/agreements/{exchange.agreement}/bundle", None, 200)
    finally:
        await runner.cleanup()
    assert exchange.consumer.participant_id in bundle["didDocuments"], list(bundle)
    assert peer.participant_id not in bundle["didDocuments"]
