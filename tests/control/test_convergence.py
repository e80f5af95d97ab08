"""Both sides of a process end in the same state without a person: a side that gives up tells the other, a
waiting side asks its peer for the state and follows it, a message received again after its process ended is
answered with the end, and a wait has a deadline. Real nodes over mutual TLS, stopped and started again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
from aiohttp import web
from nodekit import (
    WEATHER_OFFER,
    Management,
    dsp_settings,
    make_participant,
    offered_weather,
    provider_and_consumer,
    running_node,
    serving_as,
    wait_for,
    write_config,
)
from trust_e2e.kit import NodeSpec, credentialed, dcp_config, make_federation

from connector.config import load_config
from connector.dsp.messages import ContractNegotiationTerminationMessage, ContractRequestMessage
from connector.node.wiring import running
from connector.store.sql import processes as repo

DSP = "/dsp/2025-1"
FAST = {"retry_initial": 0.05, "retry_max": 0.2}
# The provider holds each message of a process back a moment, so that the test can take the consumer away
# between two of them; and gives up delivering after a second.
SLOW_PROVIDER = dsp_settings(**FAST, message_spacing=1.5, delivery_deadline=1.0) + offered_weather()
ASKING_CONSUMER = dsp_settings(**FAST, state_query_after=0.5)


async def _history_has(m: Management, pid: str, cause: str) -> bool:
    record = await m.call("GET", f"/v1/negotiations/{pid}", None, 200)
    return cause in [h["cause"] for h in record["history"]]


async def _nothing_queued(node, pid: str) -> bool:
    return await node.store.read(repo.count_queued, pid) == 0


async def test_a_consumer_away_past_the_providers_delivery_deadline_ends_like_the_provider_when_back(
    authority, tmp_path
):
    provider, consumer, pcfg, ccfg = provider_and_consumer(authority, tmp_path, SLOW_PROVIDER, ASKING_CONSUMER)
    pm, cm = Management(provider), Management(consumer)
    async with running_node(pcfg):
        async with running_node(ccfg):
            negotiation_id = await cm.start_negotiation(provider)
            await wait_for(lambda: _history_has(cm, negotiation_id, "delivered ContractRequestMessage"), 10)
            provider_pid = (await cm.call("GET", f"/v1/negotiations/{negotiation_id}", None, 200))["providerPid"]
        # The consumer is away: the provider's agreement (and the termination after it) find nobody.
        theirs = await pm.await_negotiation(provider_pid, "TERMINATED")
        assert theirs["state"] == "TERMINATED" and "delivery deadline" in theirs["reason"], theirs
        async with running_node(ccfg):
            ours = await cm.await_negotiation(negotiation_id)
    assert ours["state"] == "TERMINATED", ours
    assert ours["reason"] == "the peer reports the negotiation TERMINATED", ours
    assert "state query: terminated by the peer" in [h["cause"] for h in ours["history"]]


async def test_a_lost_finalized_event_is_recovered_from_the_providers_state(authority, tmp_path):
    provider, consumer, pcfg, ccfg = provider_and_consumer(authority, tmp_path, SLOW_PROVIDER, ASKING_CONSUMER)
    pm, cm = Management(provider), Management(consumer)
    async with running_node(pcfg) as pnode:
        async with running_node(ccfg):
            negotiation_id = await cm.start_negotiation(provider)
            await wait_for(
                lambda: _history_has(cm, negotiation_id, "delivered ContractAgreementVerificationMessage"), 15
            )
            provider_pid = (await cm.call("GET", f"/v1/negotiations/{negotiation_id}", None, 200))["providerPid"]
        theirs = await pm.await_negotiation(provider_pid)
        assert theirs["state"] == "FINALIZED", theirs
        # The FINALIZED event never arrives: the provider stops trying, and stays FINALIZED.
        await wait_for(lambda: _nothing_queued(pnode, provider_pid), 10)
        async with running_node(ccfg):
            ours = await cm.await_negotiation(negotiation_id)
            agreement = await cm.call("GET", f"/v1/agreements/{ours['agreementId']}", None, 200)
    assert ours["state"] == "FINALIZED", ours
    assert "state query: the peer has ended it so" in [h["cause"] for h in ours["history"]]
    assert agreement["finalized"] is True


async def test_a_message_refused_for_a_skewed_clock_leaves_both_sides_terminated(tmp_path):
    fed = await make_federation(tmp_path, "Skew Data Space").start(status_validity=timedelta(minutes=10))
    provider = credentialed(fed, tmp_path, "provider")
    consumer = credentialed(fed, tmp_path, "consumer")
    pcfg = dcp_config(NodeSpec(provider, [fed]), tmp_path)
    pcfg.write_text(pcfg.read_text() + dsp_settings(**FAST, message_spacing=1.0) + offered_weather())
    ccfg = dcp_config(NodeSpec(consumer, [fed]), tmp_path)
    ccfg.write_text(ccfg.read_text() + ASKING_CONSUMER)
    skew = [timedelta(0)]

    def provider_clock() -> datetime:
        return datetime.now(UTC) + skew[0]

    pm, cm = Management(provider), Management(consumer)
    try:
        async with running(load_config(pcfg, environ={}), clock=provider_clock), running_node(ccfg):
            negotiation_id = await cm.start_negotiation(provider)
            await wait_for(lambda: _history_has(cm, negotiation_id, "delivered ContractRequestMessage"), 10)
            # The provider's clock steps 90 s ahead (past the consumer's tolerance of 30 s) before its agreement
            # leaves: the consumer refuses it, as "issued in the future".
            skew[0] = timedelta(seconds=90)
            ours = await cm.await_negotiation(negotiation_id)
            theirs = await pm.await_negotiation(ours["providerPid"])
    finally:
        await fed.stop()
    # The consumer refused the provider's agreement (its token "issued in the future"); the provider gave up and
    # said so, was refused again, and the consumer, asking, learnt that the provider had ended the negotiation.
    assert theirs["state"] == "TERMINATED" and "token.not_yet_valid" in theirs["reason"], theirs
    assert ours["state"] == "TERMINATED", ours
    assert "state query: terminated by the peer" in [h["cause"] for h in ours["history"]], ours["history"]


async def test_a_request_received_again_after_its_negotiation_ended_is_answered_with_the_end(authority, tmp_path):
    provider = make_participant(authority, tmp_path, "provider")
    mallory = make_participant(authority, tmp_path, "mallory")
    pcfg = write_config(provider, tmp_path, extra=dsp_settings(**FAST, message_spacing=5.0) + offered_weather())
    request = ContractRequestMessage(
        consumer_pid="urn:uuid:m-1",
        offer=WEATHER_OFFER,
        callback_address=f"https://localhost:{mallory.protocol_port}{DSP}",
        message_id="urn:uuid:request-1",
    ).to_json()
    base = f"https://localhost:{provider.protocol_port}{DSP}"
    async with (
        running_node(pcfg),
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=mallory.client_ssl())) as session,
    ):

        async def post(path: str, body: dict) -> tuple[int, dict]:
            async with session.post(base + path, json=body) as resp:
                return resp.status, await resp.json(content_type=None)

        status, ack = await post("/negotiations/request", request)
        assert status == 201 and ack["state"] == "REQUESTED", ack
        ending = ContractNegotiationTerminationMessage(
            provider_pid=ack["providerPid"], consumer_pid="urn:uuid:m-1", code="bye", reason=("changed my mind",)
        ).to_json()
        status, _ = await post(f"/negotiations/{ack['providerPid']}/termination", ending)
        assert status == 200
        # The same request again (its answer "lost"): not the remembered 201 REQUESTED, but the end.
        status, again = await post("/negotiations/request", request)
        assert status == 400 and again["@type"] == "ContractNegotiationError", again
        assert again["code"] == "dsp.negotiation.terminated" and "changed my mind" in again["reason"][0], again
        # Sent again without a message id, found by its consumerPid: the same answer.
        status, again = await post("/negotiations/request", {k: v for k, v in request.items() if k != "@id"})
        assert status == 400 and again["code"] == "dsp.negotiation.terminated", again
        # The termination itself, sent again, is still acknowledged.
        status, repeated = await post(f"/negotiations/{ack['providerPid']}/termination", ending)
        assert status == 200 and repeated["state"] == "TERMINATED", repeated


async def test_a_process_waiting_past_its_deadline_gives_up_and_tells_the_peer(authority, tmp_path):
    provider = make_participant(authority, tmp_path, "provider")
    silent = make_participant(authority, tmp_path, "silent")
    pcfg = write_config(
        provider, tmp_path, extra=dsp_settings(**FAST, wait_deadline=1.0, state_query_after=0) + offered_weather()
    )
    received: list[dict] = []

    async def answer(request: web.Request) -> web.Response:  # acknowledges everything, never moves on
        received.append(await request.json())
        return web.json_response({})

    request = ContractRequestMessage(
        consumer_pid="urn:uuid:s-1",
        offer=WEATHER_OFFER,
        callback_address=f"https://localhost:{silent.protocol_port}{DSP}",
    ).to_json()
    async with (
        serving_as(silent, answer),
        running_node(pcfg),
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=silent.client_ssl())) as session,
    ):
        async with session.post(
            f"https://localhost:{provider.protocol_port}{DSP}/negotiations/request", json=request
        ) as resp:
            ack = await resp.json()
        pm = Management(provider)
        agreed = await pm.await_negotiation(ack["providerPid"], "AGREED", timeout=10)
        assert agreed["state"] == "AGREED" and agreed["deadline"] is not None, agreed
        done = await pm.await_negotiation(ack["providerPid"], "TERMINATED")
        await wait_for(lambda: any(m["@type"].endswith("TerminationMessage") for m in received), 10)
    assert done["state"] == "TERMINATED" and "gave up waiting for the peer" in done["reason"], done
    assert done["deadline"] is None
    farewell = next(m for m in received if m["@type"].endswith("TerminationMessage"))
    assert farewell["code"] == "wait.deadline" and farewell["consumerPid"] == "urn:uuid:s-1", farewell
