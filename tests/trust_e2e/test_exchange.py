"""Two credentialed nodes of one federation: what a verified exchange looks like from both ends."""

from __future__ import annotations

import contextlib
from urllib.parse import quote

import aiohttp
import pytest
import pytest_asyncio
from nodekit import Management, running_node
from trust_e2e.kit import (
    NodeSpec,
    RawPeer,
    Signer,
    credentialed,
    dcp_config,
    edge,
    last_record_id,
    make_federation,
    utcnow,
)

from connector.participant import did_web_document_path
from connector.records.evidence import row_json
from connector.store.sql import processes as repo
from connector.trust.did import parse_did_document, verify_key_certificate

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("exchange")
    fed = await make_federation(root, "Alpha Data Space").start()
    provider = credentialed(fed, root, "provider", country="JP")
    consumer = credentialed(fed, root, "consumer", country="DE")
    async with contextlib.AsyncExitStack() as stack:
        pnode = await stack.enter_async_context(running_node(dcp_config(NodeSpec(provider, [fed]), root)))
        cnode = await stack.enter_async_context(running_node(dcp_config(NodeSpec(consumer, [fed]), root)))
        pm, cm = Management(provider), Management(consumer)
        await pm.offer("weather")
        yield fed, provider, consumer, pnode, cnode, pm, cm
    await fed.stop()


async def test_a_negotiation_between_credentialed_nodes_carries_the_verified_claims_to_the_provider(world):
    fed, provider, consumer, pnode, cnode, pm, cm = world
    catalog = await cm.call(
        "POST",
        "/v1/catalog/request",
        {
            "counterPartyAddress": f"https://localhost:{provider.protocol_port}/dsp/2025-1",
            "counterPartyId": provider.participant_id,
        },
        200,
    )
    assert [d["id"] for d in catalog["datasets"]] == ["weather"]
    neg = await cm.negotiate(provider, "weather-offer", "weather")
    assert neg["state"] == "FINALIZED", neg
    record = await pnode.store.read(repo.get_negotiation, neg["providerPid"])
    claims = record.claims
    assert claims["participantId"] == consumer.participant_id
    by_type = {t: c for c in claims["credentials"] for t in c["types"]}
    membership, organization = by_type["MembershipCredential"], by_type["OrganizationCredential"]
    assert membership["federation"] == organization["federation"] == "Alpha Data Space"
    assert membership["issuer"] == fed.authority.issuer_id
    assert membership["subject"] == {
        "id": consumer.participant_id,
        "memberOf": fed.authority.federation_id,
        "memberSince": utcnow().date().isoformat(),
    }
    assert organization["subject"] == {
        "id": consumer.participant_id,
        "legalName": "Consumer Ltd",
        "countryOfEstablishment": "DE",
    }
    tp = await cm.call("POST", "/v1/transfers", {"agreementId": neg["agreementId"]}, 201)
    tp = await cm.call("GET", f"/v1/transfers/{tp['id']}?wait=STARTED,TERMINATED&timeout=20", None, 200)
    assert tp["state"] == "STARTED", tp
    # Both ends verified each other: the consumer checked the provider's messages too.
    for m, peer in ((pm, consumer), (cm, provider)):
        page = await m.call("GET", "/v1/verifications?outcome=verified&limit=100", None, 200)
        assert page["items"] and {r["peer"] for r in page["items"]} == {peer.participant_id}
        assert not (await m.call("GET", "/v1/verifications?outcome=refused", None, 200))["items"]


async def test_a_verified_presentation_is_reused_within_a_negotiation_and_the_status_list_is_cached(world):
    fed, provider, consumer, pnode, cnode, pm, cm = world
    edge(pnode).forget_caches()
    since = await last_record_id(pm)
    before = edge(pnode).fetcher.fetches
    last_seq = await pnode.store.read(_evidence_head)
    neg = await cm.negotiate(provider, "weather-offer", "weather")
    assert neg["state"] == "FINALIZED"
    # The evidence log holds the verification once (the presentation verified anew), with each credential's hash.
    logged = await pnode.store.read(_credential_evidence_after, last_seq)
    assert [peer for peer, _ in logged] == [consumer.participant_id], logged
    record = await pnode.store.read(repo.get_negotiation, neg["providerPid"])
    assert {c["sha256"] for c in logged[0][1]["credentials"]} == {c["sha256"] for c in record.claims["credentials"]}
    page = await pm.call("GET", f"/v1/verifications?peer={quote(consumer.participant_id)}&limit=50", None, 200)
    kinds = [r["detail"]["presentation"] for r in reversed(page["items"]) if r["id"] > since]
    assert len(kinds) >= 3 and kinds == ["fetched"] + ["cached"] * (len(kinds) - 1), kinds
    # The DID document, one presentation and one status list: nothing fetched twice within the negotiation.
    assert edge(pnode).fetcher.fetches - before == 3


def _evidence_head(db) -> int:
    return db.execute("SELECT COALESCE(MAX(seq), 0) FROM evidence_records").fetchone()[0]


def _credential_evidence_after(db, seq: int) -> list:
    rows = db.execute(
        "SELECT * FROM evidence_records WHERE kind = 'credential.verified' AND seq > ? ORDER BY seq", [seq]
    ).fetchall()
    return [(row["peer"], row_json(row)["data"]) for row in rows]  # `data` as the node reads it (kept packed)


async def test_the_did_document_is_served_at_the_did_web_path_with_the_signing_key_chained_to_the_ca(world):
    fed, provider, consumer, pnode, cnode, pm, cm = world
    url = f"https://localhost:{provider.protocol_port}{did_web_document_path(provider.participant_id)}"
    async with aiohttp.ClientSession() as session:  # an open route: no client certificate needed
        import ssl

        ctx = ssl.create_default_context(cafile=str(fed.authority.ca_cert_path))
        async with session.get(url, ssl=ctx) as resp:
            assert resp.status == 200
            body = await resp.json(content_type=None)
    document = parse_did_document(body, provider.participant_id)
    kid = Signer.of(provider).kid
    assert document.key(kid, "capabilityInvocation") and document.key(kid, "authentication")
    assert verify_key_certificate(document, kid, [fed.authority.ca_cert()], utcnow())
    assert document.credential_service_url == f"https://localhost:{provider.protocol_port}/dcp"
    assert document.data_service_url == f"https://localhost:{provider.protocol_port}/dsp/2025-1"


async def test_the_credential_service_answers_only_a_verifier_holding_our_access_token(world):
    fed, provider, consumer, pnode, cnode, pm, cm = world
    query = {
        "@context": ["https://w3id.org/dspace-dcp/v1.0/dcp.jsonld"],
        "type": "PresentationQueryMessage",
        "scope": ["org.eclipse.dspace.dcp.vc.type:MembershipCredential:read"],
    }
    raw = RawPeer(consumer)
    me, them = Signer.of(consumer), Signer.of(provider)
    # An access token the consumer minted for itself is not one the provider issued.
    own_grant = me.access_token(provider.participant_id)
    status, body = await raw.post(
        provider,
        "/dcp/presentations/query",
        query,
        f"Bearer {me.id_token(provider.participant_id, access_token=own_grant)}",
    )
    assert status == 401 and body["code"].startswith("access_token."), body
    # With the provider's own access token (as a verifier would get it in the provider's ID token): answered.
    granted = them.access_token(consumer.participant_id)
    token = f"Bearer {me.id_token(provider.participant_id, access_token=granted)}"
    status, body = await raw.post(provider, "/dcp/presentations/query", query, token)
    assert status == 200 and body["type"] == "PresentationResponseMessage" and len(body["presentation"]) == 1
    status, body = await raw.post(provider, "/dcp/presentations/query", query, token)
    assert status == 401 and body["code"] == "token.replayed"
    refused = await pm.call("GET", "/v1/verifications?outcome=refused&limit=2", None, 200)
    assert [r["code"] for r in refused["items"]][0] == "token.replayed"
    assert refused["items"][0]["step"] == "credential_service"


async def test_the_management_api_shows_verifications_trust_lists_and_own_credentials(world):
    fed, provider, consumer, pnode, cnode, pm, cm = world
    lists = await pm.call("GET", "/v1/trust-lists", None, 200)
    assert lists["verifying"] is True
    (entry,) = lists["items"]
    assert entry["federationName"] == "Alpha Data Space" and entry["state"] == "valid" and entry["sequence"] == 1
    creds = await pm.call("GET", "/v1/credentials", None, 200)
    assert sorted(t for c in creds["items"] for t in c["types"] if t != "VerifiableCredential") == [
        "MembershipCredential",
        "OrganizationCredential",
    ]
    page = await pm.call("GET", "/v1/verifications?limit=1", None, 200)
    assert len(page["items"]) == 1 and page["total"] >= 1 and ("next" in page) == (page["total"] > 1)
    bad = await pm.call("GET", "/v1/verifications?outcome=maybe", None, 400)
    assert bad["code"] == "request.invalid" and bad["where"] == "outcome"
    spec = await pm.call("GET", "/v1/openapi.json", None, 200)
    assert {"/v1/verifications", "/v1/trust-lists", "/v1/credentials"} <= set(spec["paths"])


async def test_a_verified_requests_record_is_written_with_the_next_request_at_the_latest_and_listed_at_once(world):
    fed, provider, consumer, pnode, cnode, pm, cm = world
    path = "/dsp/2025-1/catalog/request"

    async def ask_catalogue() -> None:
        await cm.call(
            "POST",
            "/v1/catalog/request",
            {
                "counterPartyAddress": f"https://localhost:{provider.protocol_port}/dsp/2025-1",
                "counterPartyId": provider.participant_id,
            },
            200,
        )

    async def stored() -> int:
        return await pnode.store.read(
            lambda db: db.execute(
                "SELECT COUNT(*) FROM verifications WHERE outcome = 'verified' AND path = ? AND peer = ?",
                [path, consumer.participant_id],
            ).fetchone()[0]
        )

    await pm.call("GET", "/v1/verifications?limit=1", None, 200)  # listing writes whatever was waiting
    before = await stored()
    await ask_catalogue()
    await ask_catalogue()
    # The first request's record shared the second one's replay transaction (if it had not been written already).
    assert await stored() >= before + 1
    page = await pm.call(
        "GET", f"/v1/verifications?outcome=verified&peer={quote(consumer.participant_id)}&limit=2", None, 200
    )
    assert [r["path"] for r in page["items"]] == [path, path]
    assert await stored() == before + 2
