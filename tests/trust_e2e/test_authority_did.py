"""The authority as a did:web issuer: its id comes from its public URL, its service publishes the DID document
there, and the kid of every credential and status list it signs resolves in that document - the way a verifier
that resolves issuer keys (EDC) checks them, without any trust list."""

from __future__ import annotations

import json
import ssl
from datetime import timedelta

import aiohttp
import jwt as pyjwt
import pytest
from nodekit import free_port
from trust_e2e.kit import utcnow

from connector.authority.service import AuthorityService
from connector.config import Listen
from connector.errors import ConnectorError
from connector.keys import same_public_key
from connector.pki.authority import Authority, did_from_public_url
from connector.pki.credentials import issue_participant_credential, sign_status_list
from connector.trust.did import ASSERTION_METHOD, AUTHENTICATION, CAPABILITY_INVOCATION, parse_did, parse_did_document

PID = "did:web:localhost%3A8443:org-a"


@pytest.mark.parametrize(
    "url, did",
    [
        ("https://localhost:8765", "did:web:localhost%3A8765"),
        ("https://localhost:8765/", "did:web:localhost%3A8765"),
        ("https://authority.example", "did:web:authority.example"),
        ("https://authority.example:443/fed/alpha", "did:web:authority.example%3A443:fed:alpha"),
        ("https://authority-jp:8765/jp", "did:web:authority-jp%3A8765:jp"),
    ],
)
def test_the_issuer_id_is_the_did_of_the_public_url(tmp_path, url, did) -> None:
    assert did_from_public_url(url) == did
    authority = Authority.init(tmp_path / "auth", "Alpha Data Space", public_url=url)
    assert authority.issuer_id == did
    assert authority.credential_kid.startswith(did + "#")
    assert parse_did(did).url == authority.public_url + authority.did_document_route


def test_a_public_url_that_did_web_cannot_name_keeps_the_name_derived_id(tmp_path) -> None:
    assert did_from_public_url("https://127.0.0.1:8765") is None
    authority = Authority.init(tmp_path / "auth", "Alpha Data Space", public_url="https://127.0.0.1:8765")
    assert authority.issuer_id == "did:web:alpha-data-space" and authority.did_document_route is None


def test_an_explicit_issuer_id_wins_and_is_not_published_at_the_public_url(tmp_path) -> None:
    authority = Authority.init(
        tmp_path / "auth", "A", issuer_id="did:web:issuer.example", public_url="https://localhost:8765"
    )
    assert authority.issuer_id == "did:web:issuer.example" and authority.did_document_route is None
    assert parse_did_document(authority.did_document(), "did:web:issuer.example").key(
        authority.credential_kid, ASSERTION_METHOD
    )


def test_the_did_document_names_the_credential_key_for_assertions_only(tmp_path) -> None:
    authority = Authority.init(tmp_path / "auth", "Alpha", public_url="https://localhost:8765/alpha")
    document = authority.did_document()
    assert document["id"] == authority.issuer_id and "service" not in document
    parsed = parse_did_document(document, authority.issuer_id)
    assert same_public_key(parsed.key(authority.credential_kid, ASSERTION_METHOD), authority.credential_key())
    assert [m.id for m in parsed.methods] == [authority.credential_kid]
    for other in (AUTHENTICATION, CAPABILITY_INVOCATION):
        with pytest.raises(ConnectorError) as err:
            parsed.key(authority.credential_kid, other)
        assert err.value.code == "did.key_relationship"


@pytest.mark.parametrize("path", ["", "/alpha"])
async def test_the_service_publishes_the_document_where_the_did_resolves_and_its_kids_verify(tmp_path, path) -> None:
    port = free_port()
    authority = Authority.init(tmp_path / "auth", "Alpha", public_url=f"https://localhost:{port}{path}")
    issued = issue_participant_credential(authority, PID, "membership")
    status_list = sign_status_list(authority, "1", timedelta(minutes=5))
    service = AuthorityService(authority.dir)
    await service.start(Listen("127.0.0.1", port))
    try:
        ctx = ssl.create_default_context(cafile=str(authority.ca_cert_path))
        async with aiohttp.ClientSession() as session:
            # What a resolving verifier does: kid -> DID -> did:web URL -> document -> key -> signature.
            for token in (issued.token, status_list):
                kid = pyjwt.get_unverified_header(token)["kid"]
                did = kid.split("#")[0]
                assert did == authority.issuer_id
                async with session.get(parse_did(did).url, ssl=ctx) as resp:
                    assert resp.status == 200 and resp.content_type == "application/did+json"
                    document = parse_did_document(json.loads(await resp.read()), did)
                key = document.key(kid, ASSERTION_METHOD)
                claims = pyjwt.decode(
                    token, key, algorithms=["ES256"], options={"verify_aud": False, "verify_exp": False}
                )
                assert claims["issuer"] == did
            other = f"https://localhost:{port}{path}/{'did.json' if not path else '.well-known/did.json'}"
            async with session.get(other, ssl=ctx) as resp:
                assert resp.status == 404
    finally:
        await service.stop()
    assert utcnow() < issued.valid_until
