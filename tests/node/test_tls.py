"""Mutual TLS on the protocol listener, with real certificates from the project's PKI tool."""

import asyncio
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from nodekit import get, make_participant, running_node, wait_for, write_config

from connector import keys
from connector.pki import certificates

PROTECTED = "/dsp/2025-1/catalog/datasets/none"  # a catalogue route: refusals are 401 with a CatalogError


@pytest.fixture
def org_a(authority, tmp_path):
    return make_participant(authority, tmp_path, "org-a")


@pytest.fixture
def org_b(authority, tmp_path):
    return make_participant(authority, tmp_path, "org-b")


def url(p, path):
    return f"https://localhost:{p.protocol_port}{path}"


async def test_a_peer_with_a_valid_certificate_reaches_a_protected_route_and_is_identified(org_a, org_b, tmp_path):
    async with running_node(write_config(org_a, tmp_path)):
        status, body = await get(url(org_a, PROTECTED), org_b.client_ssl())
        assert status != 401, body  # past the authentication middleware
        status, body = await get(url(org_a, "/.well-known/dspace-version"), org_b.client_ssl())
        assert status == 200
        entry = body["protocolVersions"][0]
        assert entry["version"] == "2025-1" and entry["binding"] == "HTTPS" and entry["path"]


async def test_without_a_certificate_open_routes_answer_and_protected_routes_refuse(org_a, tmp_path, authority):
    async with running_node(write_config(org_a, tmp_path)):
        import ssl

        anonymous = ssl.create_default_context(cafile=str(authority.ca_cert_path))
        status, _ = await get(url(org_a, "/.well-known/dspace-version"), anonymous)
        assert status == 200
        status, body = await get(url(org_a, PROTECTED), anonymous)
        assert status == 401 and body["code"] == "certificate.missing", body
        assert body["@type"] == "CatalogError"


async def test_a_certificate_from_another_authority_is_refused_at_the_handshake(org_a, tmp_path, other_authority):
    stranger = make_participant(other_authority, tmp_path, "stranger")
    async with running_node(write_config(org_a, tmp_path)):
        with pytest.raises(aiohttp.ClientError):
            await get(url(org_a, PROTECTED), stranger.client_ssl(trust=[org_a.authority.ca_cert_path]))


async def test_an_expired_certificate_is_refused(org_a, tmp_path, authority):
    old = make_participant(authority, tmp_path, "old")
    past = datetime.now(UTC) - timedelta(days=400)
    key = keys.load_private_key(old.tls_key)
    cert = certificates.make_tls_certificate(
        authority.ca_key(),
        authority.ca_cert(),
        key.public_key(),
        old.participant_id,
        ["localhost"],
        "Old",
        "DE",
        30,
        now=past,
    )
    keys.write_public_file(old.tls_cert, keys.cert_pem(cert))
    async with running_node(write_config(org_a, tmp_path)):
        with pytest.raises(aiohttp.ClientError):
            await get(url(org_a, PROTECTED), old.client_ssl())


async def test_a_revoked_certificate_is_refused_with_the_reason(org_a, org_b, tmp_path, authority):
    authority.revoke(org_b.participant_id)
    async with running_node(write_config(org_a, tmp_path)):
        status, body = await get(url(org_a, PROTECTED), org_b.client_ssl())
        assert status == 401 and body["code"] == "certificate.revoked", body
        assert body["@type"] == "CatalogError" and body["reason"]
        # The open routes stay open to it: a revoked participant can still learn the versions and DID documents.
        status, body = await get(url(org_a, "/.well-known/dspace-version"), org_b.client_ssl())
        assert status == 200


async def test_a_revocation_reaches_a_running_node_for_new_and_kept_alive_connections(
    org_a, org_b, tmp_path, authority
):
    async with running_node(write_config(org_a, tmp_path)) as node:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=org_b.client_ssl())) as kept:
            async with kept.get(url(org_a, PROTECTED)) as resp:
                assert resp.status != 401
            authority.revoke(org_b.participant_id)
            await wait_for(lambda: node.tls.is_revoked(keys.load_certificate(org_b.tls_cert)))
            async with kept.get(url(org_a, PROTECTED)) as resp:  # same connection, opened before revocation
                assert resp.status == 401 and (await resp.json())["code"] == "certificate.revoked"
        status, body = await get(url(org_a, PROTECTED), org_b.client_ssl())  # a new connection
        assert status == 401 and body["code"] == "certificate.revoked"


async def test_the_node_refuses_to_start_with_a_certificate_for_another_participant(org_a, org_b, tmp_path):
    from connector.errors import ConfigError

    path = write_config(org_a, tmp_path)
    path.write_text(path.read_text().replace(str(org_a.dir / "tls.cert.pem"), str(org_b.dir / "tls.cert.pem")))
    with pytest.raises(ConfigError) as err:
        async with running_node(path):
            pass
    assert err.value.where in ("identity.tls_key", "identity.tls_cert")


async def test_graceful_shutdown_lets_an_in_flight_request_finish(org_a, org_b, tmp_path, monkeypatch):
    from aiohttp import web

    from connector.node import wiring

    async def slow(request):
        await asyncio.sleep(0.5)
        return web.json_response({"done": True})

    original = wiring.version_routes
    monkeypatch.setattr(wiring, "version_routes", lambda *args: [*original(*args), web.get("/slow", slow)])
    async with running_node(write_config(org_a, tmp_path)):
        pending = asyncio.ensure_future(get(url(org_a, "/slow"), org_b.client_ssl()))
        await asyncio.sleep(0.1)
    # Leaving the block stopped the node: the request in flight was let finish first.
    status, body = await pending
    assert status == 200 and body == {"done": True}
