"""A node that stops keeps every part its last messages need alive until they are sent: it stops taking new work
(503 with Retry-After), lets the steps and deliveries under way finish while its DID document and credential
service are still served, closes its listeners, and closes its store last. "Not now" is never turned into "no":
no peer ends a process because a node stopped, and after a restart every process converges."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from datetime import timedelta

import aiohttp
from nodekit import Management, NodeProcess, dsp_settings, offered_weather, running_node, wait_for
from trust_e2e.kit import DSP, NodeSpec, RawPeer, Signer, credentialed, dcp_config, make_federation

from connector.participant import did_web_document_path

# Fast retries; every message verified in full (no presentation reused), so that each needs the sender's DID
# document and credential service while the sender stops.
EAGER = dsp_settings(retry_initial=0.05, retry_max=0.3)
BURST = 24


@contextlib.asynccontextmanager
async def data_space(tmp_path):
    fed = await make_federation(tmp_path, "Stop Data Space").start(status_validity=timedelta(minutes=10))
    provider = credentialed(fed, tmp_path, "provider")
    consumer = credentialed(fed, tmp_path, "consumer")
    spec = {"presentation_reuse": 0.0}
    pcfg = dcp_config(NodeSpec(provider, [fed], trust=spec), tmp_path)
    pcfg.write_text(pcfg.read_text() + EAGER + offered_weather())
    ccfg = dcp_config(NodeSpec(consumer, [fed], trust=spec), tmp_path)
    ccfg.write_text(ccfg.read_text() + EAGER)
    try:
        yield provider, consumer, pcfg, ccfg
    finally:
        await fed.stop()


async def _burst(cm: Management, provider, count: int) -> list[str]:
    return list(await asyncio.gather(*(cm.start_negotiation(provider) for _ in range(count))))


async def _states(m: Management, role: str) -> dict[str, dict]:
    listed = await m.call("GET", f"/v1/negotiations?role={role}&limit=500", None, 200)
    return {n["id"]: n for n in listed["items"]}


async def _all_ended(m: Management, role: str, count: int) -> bool:
    states = await _states(m, role)
    return len(states) == count and all(n["state"] in ("FINALIZED", "TERMINATED") for n in states.values())


async def test_a_provider_stopped_by_sigterm_during_a_burst_loses_no_negotiation(tmp_path):
    async with data_space(tmp_path) as (provider, consumer, pcfg, ccfg):
        node = NodeProcess(pcfg, provider).start()
        try:
            async with running_node(ccfg):
                cm = Management(consumer)
                await _burst(cm, provider, BURST)
                await wait_for(lambda: _some_finalized(cm), 20)
                node.proc.send_signal(signal.SIGTERM)
                assert await asyncio.to_thread(node.proc.wait, 30) == 0
                await asyncio.sleep(0.5)  # the consumer meets a node that is gone for a moment
                node.start()
                await wait_for(lambda: _all_ended(cm, "consumer", BURST), 60)
                ours = await _states(cm, "consumer")
                await wait_for(lambda: _all_ended(Management(provider), "provider", BURST), 30)
                theirs = await _states(Management(provider), "provider")
        finally:
            node.stop()
    assert {n["state"] for n in ours.values()} == {"FINALIZED"}, [n["reason"] for n in ours.values()]
    assert {n["state"] for n in theirs.values()} == {"FINALIZED"}, [n["reason"] for n in theirs.values()]


async def test_a_consumer_stopping_during_a_burst_still_serves_what_its_last_messages_need(tmp_path):
    async with data_space(tmp_path) as (provider, consumer, pcfg, ccfg):
        async with running_node(pcfg) as pnode:
            cm = Management(consumer)
            async with running_node(ccfg):
                await _burst(cm, provider, BURST)
                await wait_for(lambda: _some_finalized(cm), 20)
                pnode.trust.forget_caches()  # the provider verifies the consumer's next messages afresh
            async with running_node(ccfg):
                await wait_for(lambda: _all_ended(cm, "consumer", BURST), 60)
                ours = await _states(cm, "consumer")
            await wait_for(lambda: _all_ended(Management(provider), "provider", BURST), 30)
            theirs = await _states(Management(provider), "provider")
    assert {n["state"] for n in ours.values()} == {"FINALIZED"}, [n["reason"] for n in ours.values()]
    assert {n["state"] for n in theirs.values()} == {"FINALIZED"}, [n["reason"] for n in theirs.values()]


async def _some_finalized(m: Management) -> bool:
    return any(n["state"] == "FINALIZED" for n in (await _states(m, "consumer")).values())


async def test_a_stopping_node_refuses_new_work_for_now_but_still_serves_its_identity(tmp_path):
    async with data_space(tmp_path) as (provider, consumer, pcfg, _):
        async with running_node(pcfg) as node:
            base = f"https://localhost:{provider.protocol_port}"
            node.gate.close()  # as the first thing a stop does
            status, answer = await RawPeer(consumer).request_contract(provider, None)
            assert status == 503 and answer["@type"] == "ContractNegotiationError", answer
            assert answer["code"] == "node.unavailable", answer
            async with aiohttp.ClientSession() as session:
                async with session.post(f"{base}{DSP}/transfers/request", json={}, ssl=consumer.client_ssl()) as resp:
                    assert resp.status == 503 and resp.headers["Retry-After"] == "1"
                    assert (await resp.json())["@type"] == "TransferError"
                did_path = did_web_document_path(provider.participant_id)
                async with session.get(f"{base}{did_path}", ssl=consumer.client_ssl()) as resp:
                    assert resp.status == 200 and (await resp.json())["id"] == provider.participant_id
            assert (await Management(provider).call("GET", "/check/readiness"))["ready"] is True
            await node.drain(0.1)
            assert (await Management(provider).call("GET", "/check/readiness"))["ready"] is False


async def test_a_request_met_by_a_closing_store_is_told_to_come_back_not_refused(tmp_path):
    async with data_space(tmp_path) as (provider, consumer, pcfg, ccfg):
        async with running_node(pcfg) as node, running_node(ccfg):
            authorization = f"Bearer {Signer.of(consumer).id_token(provider.participant_id)}"
            await node.store.close()  # what a stop does last; a request still in flight meets it
            status, answer = await RawPeer(consumer).request_contract(provider, authorization)
            assert status == 503, answer
            assert answer["@type"] == "ContractNegotiationError" and answer["code"] == "store.closed", answer
