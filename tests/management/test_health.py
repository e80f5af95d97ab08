"""The probes exercise what they name and say which part failed: a store that refuses a write, a CRL or trust list
past its time, a trust list's URL that does not answer, every peer refused; readiness follows all but the peers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from nodekit import free_port, get, make_participant, running_node, write_config
from trust_e2e.kit import NodeSpec, RawPeer, credentialed, dcp_config, make_federation

from connector.config import load_config
from connector.node.wiring import running

pytestmark = pytest.mark.e2e


async def _probe(participant, which: str = "health") -> tuple[int, dict]:
    return await get(f"http://127.0.0.1:{participant.management_port}/check/{which}")


async def test_a_store_that_refuses_writes_fails_health_and_readiness_by_name(authority, tmp_path):
    participant = make_participant(authority, tmp_path, "org")
    async with running_node(write_config(participant, tmp_path)) as node:
        status, body = await _probe(participant)
        assert status == 200 and body["status"] == "ok" and body["checks"]["store"] == "ok", body
        await node.store.read(lambda tx: tx.execute("PRAGMA query_only=1"))  # SQLite refuses every write now
        status, body = await _probe(participant)
        assert status == 503 and body["status"] == "degraded" and body["checks"]["store"] == "failing", body
        [problem] = body["problems"]
        assert problem["check"] == "store" and "readonly" in problem["detail"], problem
        assert str(node.config.store_path) in problem["detail"], problem
        status, ready = await _probe(participant, "readiness")
        assert status == 503 and ready["ready"] is False and ready["problems"][0]["check"] == "store", ready
        await node.store.read(lambda tx: tx.execute("PRAGMA query_only=0"))
        status, body = await _probe(participant)
        assert status == 200 and body["problems"] == [], body


async def test_a_stale_crl_and_an_expired_trust_list_take_the_node_out_of_rotation(tmp_path):
    fed = await make_federation(tmp_path, "Stale Data Space").start()
    org = credentialed(fed, tmp_path, "org")
    config = load_config(dcp_config(NodeSpec(org, [fed]), tmp_path), environ={})
    shift = [timedelta(0)]
    try:
        async with running(config, clock=lambda: datetime.now(UTC) + shift[0]):
            status, body = await _probe(org, "readiness")
            assert status == 200 and body == {"ready": True, "problems": []}, body
            shift[0] = timedelta(days=40)  # past the CRL's next update (30 days) and the trust list (30 days)
            status, body = await _probe(org)
            assert status == 503 and body["checks"]["crl"] == "failing", body
            assert body["checks"]["trust_lists"] == "failing" and body["checks"]["certificate"] == "ok", body
            assert "was due for renewal" in body["details"]["crl"], body
            assert "the trust list of Stale Data Space expired" in body["details"]["trust_lists"], body
            status, ready = await _probe(org, "readiness")
            assert status == 503 and {p["check"] for p in ready["problems"]} == {"crl", "trust_lists"}, ready
    finally:
        await fed.stop()


async def test_a_trust_list_that_cannot_be_fetched_past_the_grace_is_named(tmp_path):
    fed = await make_federation(tmp_path, "Away Data Space").start()
    org = credentialed(fed, tmp_path, "org")
    path = dcp_config(NodeSpec(org, [fed], trust={"freshness_grace": 0.0}), tmp_path)
    nowhere = f"https://localhost:{free_port()}/trust-list"
    path.write_text(path.read_text().replace("[[trust.lists]]\n", f'[[trust.lists]]\nurl = "{nowhere}"\n'))
    try:
        async with running_node(path) as node:
            await node.trust.refresh(force_url=True)
            status, body = await _probe(org)
            assert status == 503 and body["checks"]["trust_lists"] == "failing", body
            assert f"could not be fetched from {nowhere}" in body["details"]["trust_lists"], body
    finally:
        await fed.stop()


async def test_every_peer_refused_is_reported_without_leaving_rotation(tmp_path):
    fed = await make_federation(tmp_path, "Refusing Data Space").start()
    provider = credentialed(fed, tmp_path, "provider")
    stranger = credentialed(fed, tmp_path, "stranger")
    try:
        async with running_node(dcp_config(NodeSpec(provider, [fed]), tmp_path)):
            status, body = await _probe(provider)
            assert status == 200 and body["checks"]["peers"] == "ok", body
            for _ in range(3):
                status, _ = await RawPeer(stranger).catalogue(provider, "Bearer not-a-token")
                assert status == 401
            status, body = await _probe(provider)
            assert status == 503 and body["checks"]["peers"] == "failing", body
            assert "every peer request of the last 300 s was refused" in body["details"]["peers"], body
            assert "x3" in body["details"]["peers"], body
            status, ready = await _probe(provider, "readiness")
            assert status == 200 and ready["ready"] is True, ready
    finally:
        await fed.stop()
