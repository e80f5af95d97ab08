"""The authority as time-stamp authority: its certificate made on first use, serials unique across instances,
tokens that verify against the federation root, and the HTTP route the authority's service mounts."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509

from connector.errors import ConnectorError
from connector.evidence.edge.tsa_service import POLICY_OID, TSA_CERT_FILE, TimeStampAuthority, tsa_routes
from connector.evidence.timestamp import CONTENT_TYPE_QUERY, make_request, new_nonce, verify_response

DIGEST = hashlib.sha256(b"a checkpoint").digest()


def test_the_tsa_certificate_is_issued_on_first_use_and_then_reused(authority):
    assert not (authority.dir / TSA_CERT_FILE).exists()
    first = TimeStampAuthority(authority.dir)
    _, cert, ca = first.identity()
    assert (authority.dir / TSA_CERT_FILE).exists() and cert.issuer == ca.subject
    _, again, _ = TimeStampAuthority(authority.dir).identity()
    assert again == cert


def test_tokens_verify_against_the_federation_root_and_name_the_policy(authority):
    tsa = TimeStampAuthority(authority.dir)
    nonce = new_nonce()
    reply = tsa.answer(make_request(DIGEST, nonce))
    stamp = verify_response(reply, DIGEST, nonce, [authority.ca_cert()], datetime.now(UTC))
    assert stamp.policy == POLICY_OID and "Time-Stamp Authority" in stamp.tsa_name
    with pytest.raises(ConnectorError) as raised:
        verify_response(reply, hashlib.sha256(b"other").digest(), nonce, [authority.ca_cert()], datetime.now(UTC))
    assert raised.value.code == "timestamp.imprint"


def test_serials_are_unique_across_instances_and_threads(authority):
    instances = [TimeStampAuthority(authority.dir) for _ in range(3)]
    with ThreadPoolExecutor(6) as pool:
        serials = list(pool.map(lambda i: instances[i % 3].next_serial(), range(60)))
    assert len(set(serials)) == 60 and max(serials) == 60


async def test_the_route_answers_queries_and_refuses_other_content(authority):
    app = web.Application()
    app.add_routes(tsa_routes(authority.dir))
    async with TestClient(TestServer(app)) as client:
        resp = await client.post("/tsa", data=make_request(DIGEST, 7), headers={"Content-Type": CONTENT_TYPE_QUERY})
        assert resp.status == 200 and resp.content_type == "application/timestamp-reply"
        stamp = verify_response(await resp.read(), DIGEST, 7, [authority.ca_cert()], datetime.now(UTC))
        assert stamp.serial >= 1
        wrong = await client.post("/tsa", data=b"{}", headers={"Content-Type": "application/json"})
        assert wrong.status == 415
        huge = await client.post("/tsa", data=b"\0" * 20000, headers={"Content-Type": CONTENT_TYPE_QUERY})
        assert huge.status == 413
        cert = await client.get("/tsa/cert.pem")
        assert cert.status == 200 and stamp.tsa_cert == x509.load_pem_x509_certificate(await cert.read())


async def test_garbage_gets_an_rfc3161_rejection_not_an_error(authority):
    app = web.Application()
    app.add_routes(tsa_routes(authority.dir))
    async with TestClient(TestServer(app)) as client:
        resp = await client.post("/tsa", data=b"\x30\x03\x02\x01\x05", headers={"Content-Type": CONTENT_TYPE_QUERY})
        assert resp.status == 200
        with pytest.raises(ConnectorError) as raised:
            verify_response(await resp.read(), DIGEST, None, [authority.ca_cert()], datetime.now(UTC))
        assert raised.value.code == "timestamp.status"
