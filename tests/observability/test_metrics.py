"""GET /metrics after a story between real credentialed nodes: a negotiation delivered after retries, a transfer
pulled in full, a contract refused by policy, a request refused for its token. Every series is there, with the
story's numbers, in the Prometheus text format."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path

import aiohttp
import pytest
from dataplane_e2e.kit import fetch
from nodekit import API_KEY, Management, Participant, running_node
from prometheus_client.parser import text_string_to_metric_families
from trust_e2e.kit import NodeSpec, RawPeer, credentialed, dcp_config, make_federation

DATA = b"time,station,temp\n" + b"".join(f"2025-01-01T{h:02d}:00,tokyo,{h / 2}\n".encode() for h in range(24))
FAST_RETRIES = "\n[dsp]\nretry_initial = 0.05\nretry_max = 0.2\n"
OFFERS = """
[[assets]]
id = "weather"
source = {type = "file", path = "weather.csv", mediaType = "text/csv"}
[[assets]]
id = "hospital"
source = {type = "file", path = "weather.csv", mediaType = "text/csv"}
[[policies]]
id = "use"
policy = {permission = [{action = "use"}]}
[[policies]]
id = "research-only"
[[policies.policy.permission]]
action = "use"
constraint = [{leftOperand = "purpose", operator = "eq", rightOperand = "research"}]
[[offers]]
id = "weather-offer"
asset = "weather"
contract_policy = "use"
[[offers]]
id = "hospital-offer"
asset = "hospital"
contract_policy = "research-only"
"""


async def scrape(p: Participant, api_key: str | None = API_KEY) -> tuple[int, str]:
    headers = {"X-Api-Key": api_key} if api_key else {}
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{p.management_port}/metrics", headers=headers) as resp:
            return resp.status, await resp.text()


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


def matching(found: dict, name: str, **labels: str) -> dict[frozenset, float]:
    want = set(labels.items())
    return {k[1]: v for k, v in found.items() if k[0] == name and want <= set(k[1])}


@pytest.fixture
async def story(tmp_path: Path):
    federation = await make_federation(tmp_path, "Data Space").start()
    provider = credentialed(federation, tmp_path, "tokyo", country="JP")
    consumer = credentialed(federation, tmp_path, "berlin", country="DE")
    root = tmp_path / "tokyo-data"
    root.mkdir()
    (root / "weather.csv").write_bytes(DATA)
    pcfg = dcp_config(NodeSpec(provider, [federation]), tmp_path)
    pcfg.write_text(pcfg.read_text() + f'\n[data]\nroot = "{root}"\n' + OFFERS)
    ccfg = dcp_config(NodeSpec(consumer, [federation]), tmp_path)
    ccfg.write_text(ccfg.read_text() + FAST_RETRIES)
    try:
        yield provider, consumer, pcfg, ccfg
    finally:
        await federation.stop()


async def test_the_metrics_of_a_story_between_two_nodes(story):
    provider, consumer, pcfg, ccfg = story
    address = f"https://localhost:{provider.protocol_port}/dsp/2025-1"
    async with running_node(ccfg):
        cm = Management(consumer)
        # The provider is not up yet: the contract request is retried until it answers.
        neg = await cm.call(
            "POST",
            "/v1/negotiations",
            {
                "counterPartyAddress": address,
                "counterPartyId": provider.participant_id,
                "offerId": "weather-offer",
                "datasetId": "weather",
                "offer": {
                    "@id": "weather-offer",
                    "@type": "Offer",
                    "target": "weather",
                    "permission": [{"action": "use"}],
                },
            },
            201,
        )
        await asyncio.sleep(0.5)
        async with running_node(pcfg):
            pm = Management(provider)
            neg = await cm.call("GET", f"/v1/negotiations/{neg['id']}?wait=FINALIZED,TERMINATED&timeout=20")
            assert neg["state"] == "FINALIZED", neg
            refused = await cm.negotiate(provider, "hospital-offer", "hospital", purpose="marketing")
            assert refused["state"] == "TERMINATED", refused

            tp = await cm.call("POST", "/v1/transfers", {"agreementId": neg["agreementId"]}, 201)
            tp = await cm.call("GET", f"/v1/transfers/{tp['id']}?wait=STARTED,TERMINATED&timeout=20")
            assert tp["state"] == "STARTED", tp
            access = await cm.call("POST", f"/v1/transfers/{tp['id']}/token", None, 200)
            got = await fetch(access["endpoint"], consumer, access["authorization"])
            seal = await fetch(access["sealEndpoint"], consumer, access["authorization"])
            assert got.status == 200 and got.body == DATA and seal.status == 200
            report = {"seal": seal.json(), "sha256": hashlib.sha256(DATA).hexdigest(), "size": len(DATA)}
            await cm.call("POST", f"/v1/transfers/{tp['id']}/seal", report, 200)
            await cm.call("POST", f"/v1/transfers/{tp['id']}/complete", None, 200)
            theirs = (await pm.call("GET", "/v1/transfers?role=provider", None, 200))["items"][0]["id"]
            done = await pm.call("GET", f"/v1/transfers/{theirs}?wait=COMPLETED,TERMINATED&timeout=20", None, 200)
            assert done["state"] == "COMPLETED", done

            # A request without a token is refused at the verifier seam.
            status, body = await RawPeer(consumer).catalogue(provider, None)
            assert status == 401 and body["code"] == "token.missing", body

            assert (await scrape(provider, None))[0] == 401  # behind the API key unless configured open
            started = time.monotonic()
            status, text = await scrape(provider)
            scrape_ms = (time.monotonic() - started) * 1000
            assert status == 200, text
            p = samples(text)
            status, text = await scrape(consumer)
            c = samples(text)

    tokyo, berlin = provider.participant_id, consumer.participant_id
    assert value(p, "connector_info", participant_id=tokyo, version=__import__("connector").__version__) == 1

    # Negotiations and transfers by role, state and peer.
    assert value(p, "connector_negotiations", role="provider", state="FINALIZED", peer=berlin) == 1
    assert value(p, "connector_negotiations", role="provider", state="TERMINATED", peer=berlin) == 1
    assert value(c, "connector_negotiations", role="consumer", state="FINALIZED", peer=tokyo) == 1
    assert value(c, "connector_negotiations", role="consumer", state="TERMINATED", peer=tokyo) == 1
    assert sum(matching(p, "connector_transfers", role="provider", peer=berlin).values()) == 1
    assert sum(matching(c, "connector_transfers", role="consumer", peer=tokyo).values()) == 1

    # Bytes moved, both ways.
    assert value(p, "connector_data_bytes_total", direction="sent", peer=berlin) == len(DATA)
    assert value(c, "connector_data_bytes_total", direction="received", peer=tokyo) == len(DATA)

    # Refusals by reason and code: the contract for marketing, the request without a token.
    assert value(p, "connector_refusals_total", reason="policy", code="policy.refused") == 1
    assert value(p, "connector_refusals_total", reason="token", code="token.missing") == 1
    assert sum(matching(p, "connector_refusals_total").values()) == 2

    # Verification and policy-decision latency.
    assert value(p, "connector_verification_seconds_count", outcome="refused") == 1
    verified = value(p, "connector_verification_seconds_count", outcome="verified")
    # At least every DSP message the provider accepted: two contract requests, a verification, a transfer request
    # and its completion.
    assert verified >= 5
    assert value(p, "connector_verification_seconds_bucket", outcome="verified", le="+Inf") == verified
    assert value(p, "connector_verification_seconds_sum", outcome="verified") > 0
    assert value(p, "connector_policy_decision_seconds_count", stage="contract", outcome="permitted") == 1
    assert value(p, "connector_policy_decision_seconds_count", stage="contract", outcome="denied") == 1
    assert value(p, "connector_policy_decision_seconds_count", stage="transfer", outcome="permitted") >= 1
    assert value(c, "connector_policy_decision_seconds_count", stage="agreement", outcome="permitted") == 1

    # The outbox, and the deliveries retried while the provider was away.
    assert value(p, "connector_outbox_messages") == 0 and value(c, "connector_outbox_messages") == 0
    assert value(p, "connector_outbox_oldest_message_age_seconds") == 0
    assert value(c, "connector_delivery_retries_total") >= 1
    assert value(p, "connector_delivery_retries_total") == 0

    # Store transactions: their latency, and no errors.
    assert value(p, "connector_store_transaction_seconds_count", operation="write") > 10
    assert value(p, "connector_store_transaction_seconds_count", operation="read") > 10
    assert sum(matching(p, "connector_store_errors_total").values()) == 0
    assert len(matching(p, "connector_store_errors_total")) == 6  # every operation and kind, at zero

    # The expiry of every piece of trust material, as Unix time in the future.
    expiry = matching(p, "connector_trust_material_expiry_timestamp_seconds")
    kinds = {dict(labels)["kind"] for labels in expiry}
    assert kinds == {"certificate", "ca", "crl", "trust_list", "status_list", "credential"}, kinds
    names = {dict(labels)["name"] for labels in expiry if dict(labels)["kind"] == "certificate"}
    assert names == {"tls", "signing"}
    assert {dict(labels)["name"] for labels in expiry if dict(labels)["kind"] == "trust_list"} == {"Data Space"}
    credentials = [dict(labels)["name"] for labels in expiry if dict(labels)["kind"] == "credential"]
    assert sorted(n.split()[0] for n in credentials) == ["MembershipCredential", "OrganizationCredential"]
    assert all(v > time.time() for v in expiry.values()), expiry

    assert value(p, "process_resident_memory_bytes") > 0
    assert scrape_ms < 1000, scrape_ms
