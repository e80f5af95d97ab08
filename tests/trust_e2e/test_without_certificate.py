"""`protocol.client_certificate = "optional"`: a caller without a client certificate is authenticated by DCP alone,
as an EDC connector calls; one that presents a certificate is still held to it, and the default still requires
one. Real nodes over TLS on loopback; the caller without a certificate is a plain HTTPS client with tokens made
by hand."""

from __future__ import annotations

import contextlib
import json
import ssl

import aiohttp
import pytest
import pytest_asyncio
from nodekit import running_node
from trust_e2e.kit import DSP, NodeSpec, RawPeer, Signer, credentialed, dcp_config, make_federation

from connector.dsp.catalog_messages import CatalogRequestMessage
from connector.pki.trust_list import issue_trust_list
from connector.trust.scopes import type_scope

pytestmark = pytest.mark.asyncio(loop_scope="module")
OPTIONAL = {"client_certificate": "optional"}


def _with_protocol(path, settings: dict[str, str]):
    text = path.read_text()
    lines = "".join(f'{k} = "{v}"\n' for k, v in settings.items())
    path.write_text(text.replace("[protocol]\n", "[protocol]\n" + lines, 1))
    return path


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("without-certificate")
    fed = await make_federation(root, "Alpha Data Space").start()
    strict = make_federation(root, "Strict Data Space")
    issue_trust_list(strict.authority, strict.trust_list, require_client_certificate=True)
    await strict.start()
    optional = credentialed(fed, root, "optional")
    required = credentialed(fed, root, "required")
    caller = credentialed(fed, root, "caller")
    member = credentialed(strict, root, "member")
    spec = NodeSpec(optional, [fed, strict], extra_cas=[strict.authority.ca_cert_path])
    async with contextlib.AsyncExitStack() as stack:
        nodes = {}
        nodes["optional"] = await stack.enter_async_context(
            running_node(_with_protocol(dcp_config(spec, root), OPTIONAL))
        )
        nodes["required"] = await stack.enter_async_context(running_node(dcp_config(NodeSpec(required, [fed]), root)))
        # The callers' own nodes serve their DID documents and credential services.
        nodes["caller"] = await stack.enter_async_context(running_node(dcp_config(NodeSpec(caller, [fed]), root)))
        member_spec = NodeSpec(member, [strict, fed], extra_cas=[fed.authority.ca_cert_path])
        nodes["member"] = await stack.enter_async_context(running_node(dcp_config(member_spec, root)))
        yield {"fed": fed, "optional": optional, "required": required, "caller": caller, "member": member}
    await fed.stop()
    await strict.stop()


def _plain_client(ca_paths) -> ssl.SSLContext:
    """A client that trusts the nodes' authorities and presents no certificate."""
    ctx = ssl.create_default_context()
    for path in ca_paths:
        ctx.load_verify_locations(cafile=str(path))
    return ctx


async def _post(ssl_ctx, target, path: str, body, authorization: str | None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"https://localhost:{target.protocol_port}{path}", data=json.dumps(body), headers=headers, ssl=ssl_ctx
        ) as resp:
            return resp.status, json.loads(await resp.text() or "null")


async def _catalogue(world, target, authorization):
    ctx = _plain_client([world["fed"].authority.ca_cert_path])
    return await _post(ctx, target, f"{DSP}/catalog/request", CatalogRequestMessage().to_json(), authorization)


async def test_a_caller_without_a_certificate_is_authenticated_by_its_token(world):
    caller, target = world["caller"], world["optional"]
    status, body = await _catalogue(world, target, f"Bearer {Signer.of(caller).id_token(target.participant_id)}")
    assert status == 200, body
    assert body["@type"] == "Catalog"


async def test_without_a_certificate_a_token_is_needed(world):
    status, body = await _catalogue(world, world["optional"], None)
    assert status == 401 and body["code"] == "token.missing", body


async def test_a_caller_presenting_a_certificate_is_still_held_to_it(world):
    target = world["optional"]
    token = Signer.of(world["caller"]).id_token(target.participant_id)
    status, body = await RawPeer(world["required"]).catalogue(target, f"Bearer {token}")
    assert status == 401 and body["code"] == "token.channel_binding", body
    ok, _ = await RawPeer(world["caller"]).catalogue(
        target, f"Bearer {Signer.of(world['caller']).id_token(target.participant_id)}"
    )
    assert ok == 200


async def test_by_default_a_caller_without_a_certificate_is_refused(world):
    caller, target = world["caller"], world["required"]
    status, body = await _catalogue(world, target, f"Bearer {Signer.of(caller).id_token(target.participant_id)}")
    assert status == 401 and body["code"] == "certificate.missing", body


async def test_a_federation_requiring_certificates_gets_them_from_its_members(world):
    member, target = world["member"], world["optional"]
    strict_ca = [world["fed"].authority.ca_cert_path]
    token = Signer.of(member).id_token(target.participant_id)
    status, body = await _post(
        _plain_client(strict_ca), target, f"{DSP}/catalog/request", CatalogRequestMessage().to_json(), f"Bearer {token}"
    )
    assert status == 401 and body["code"] == "certificate.required", body
    assert "Strict Data Space" in body["reason"][0]
    with_certificate = member.client_ssl(trust=strict_ca)
    token = Signer.of(member).id_token(target.participant_id)
    ok, answer = await _post(
        with_certificate, target, f"{DSP}/catalog/request", CatalogRequestMessage().to_json(), f"Bearer {token}"
    )
    assert ok == 200, answer


async def test_the_version_document_says_how_callers_authenticate(world):
    for name, mode in (("optional", "optional"), ("required", "required")):
        async with aiohttp.ClientSession() as session:
            url = f"https://localhost:{world[name].protocol_port}/.well-known/dspace-version"
            async with session.get(url, ssl=_plain_client([world["fed"].authority.ca_cert_path])) as resp:
                (version,) = (await resp.json())["protocolVersions"]
        assert version["auth"]["protocol"] == "DCP" and version["auth"]["version"] == "1.0"
        assert set(version["auth"]["profile"]) == {"vc20-bssl/jwt", "vc11-sl2021/jwt"}
        assert version["auth"]["clientCertificate"] == mode


async def test_the_credential_service_answers_a_verifier_without_a_certificate_only_when_optional(world):
    caller = world["caller"]
    query = {
        "@context": ["https://w3id.org/dspace-dcp/v1.0/dcp.jsonld"],
        "type": "PresentationQueryMessage",
        "scope": [type_scope("MembershipCredential")],
    }
    for name, expected in (("optional", 200), ("required", 401)):
        holder = world[name]
        access = Signer.of(holder).access_token(caller.participant_id)
        token = Signer.of(caller).id_token(holder.participant_id, access_token=access)
        ctx = _plain_client([world["fed"].authority.ca_cert_path])
        status, body = await _post(ctx, holder, "/dcp/presentations/query", query, f"Bearer {token}")
        assert status == expected, body
        if expected == 200:
            assert body["type"] == "PresentationResponseMessage" and body["presentation"]
