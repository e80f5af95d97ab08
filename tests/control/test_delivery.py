"""Delivery between real nodes: a peer that answers 5xx is retried until it answers, a lost acknowledgement is
retried and answered as the first time (message `@id`), and a peer that stays away ends the process with the
reason once the delivery deadline has passed."""

import asyncio
import json
import logging

from aiohttp import web
from nodekit import (
    WEATHER_OFFER,
    Management,
    dsp_settings,
    free_port,
    offered_weather,
    provider_and_consumer,
    running_node,
    serving_as,
    wait_for,
)

from connector.web import peer_client
from connector.web.peer_client import PeerUnavailable

FAST = {"retry_initial": 0.05, "retry_max": 0.2}


async def test_a_peer_answering_503_is_retried_until_the_real_node_answers(authority, tmp_path):
    # The offer as configuration, so that it exists from the node's first answer on (a consumer retrying every
    # 0.2 s may reach the provider before an offer made through its API).
    provider, consumer, pcfg, ccfg = provider_and_consumer(authority, tmp_path, offered_weather(), dsp_settings(**FAST))
    # The provider's address is first served, with the provider's own certificate, by a server that answers 503
    # (an overloaded or restarting deployment); then the provider node itself takes the port over.
    answered: list[str] = []

    async def unavailable(request: web.Request) -> web.Response:
        answered.append(request.path)
        return web.json_response({"error": "starting"}, status=503)

    async with running_node(ccfg):
        cm = Management(consumer)
        async with serving_as(provider, unavailable):
            negotiation_id = await cm.start_negotiation(provider, offer=WEATHER_OFFER)
            for _ in range(200):
                if len(answered) >= 2:
                    break
                await asyncio.sleep(0.02)
        assert len(answered) >= 2 and all(path.endswith("/negotiations/request") for path in answered)
        pending = await cm.call("GET", f"/v1/negotiations/{negotiation_id}", None, 200)
        assert pending["state"] == "REQUESTED", pending
        async with running_node(pcfg):
            done = await cm.await_negotiation(negotiation_id)
    assert done["state"] == "FINALIZED", done
    assert "delivered ContractRequestMessage" in [h["cause"] for h in done["history"]]


async def test_a_lost_acknowledgement_is_retried_and_answered_as_the_first_time(
    authority, tmp_path, monkeypatch, caplog
):
    # The provider waits a second between two messages of a process, so the consumer's retry reaches it before
    # its FINALIZED event could make the retry moot: the retry itself must be answered well.
    provider, consumer, pcfg, ccfg = provider_and_consumer(
        authority, tmp_path, dsp_settings(message_spacing=1.0), dsp_settings(**FAST)
    )
    sent = peer_client.PeerClient.request
    lost: list[dict] = []

    async def ack_lost_once(self, method, url, body=None, expected_peer=None, **kw):
        response = await sent(self, method, url, body, expected_peer, **kw)
        message = body if body is not None else json.loads(kw.get("body_json") or "null")
        if isinstance(message, dict) and message.get("@type") == "ContractAgreementVerificationMessage" and not lost:
            lost.append(message)  # delivered and acted on by the provider; its answer never comes back
            raise PeerUnavailable("peer.unreachable", f"connection reset by peer while reading from {url}")
        return response

    monkeypatch.setattr(peer_client.PeerClient, "request", ack_lost_once)
    async with running_node(pcfg), running_node(ccfg):
        caplog.set_level(logging.INFO, logger="connector.control")
        pm, cm = Management(provider), Management(consumer)
        offer_id = await pm.offer("weather")
        neg = await cm.negotiate(provider, offer_id, "weather")
        assert neg["state"] == "FINALIZED", neg
        announced = [r.process_id for r in caplog.records if r.getMessage() == "negotiation FINALIZED"]
        assert announced.count(neg["id"]) == 1, announced  # one line per process that ended, on each side
        assert lost and lost[0].get("@id"), "the verification carries a message @id"
        provider_side = await pm.call("GET", "/v1/negotiations?role=provider", None, 200)
        [theirs] = provider_side["items"]
        theirs = await pm.await_negotiation(theirs["id"], "FINALIZED", timeout=10)
    assert theirs["state"] == "FINALIZED", theirs
    verified = [h for h in theirs["history"] if h["cause"] == "received ContractAgreementVerificationMessage"]
    assert len(verified) == 1, theirs["history"]  # the repeated message changed nothing


async def test_a_peer_that_stays_away_past_the_deadline_ends_the_negotiation_with_the_reason(
    authority, tmp_path, caplog
):
    provider, consumer, _pcfg, ccfg = provider_and_consumer(
        authority, tmp_path, consumer_extra=dsp_settings(**FAST, delivery_deadline=1.0)
    )
    provider.protocol_port = free_port()  # nothing listens there
    async with running_node(ccfg):
        caplog.set_level(logging.INFO, logger="connector.control")
        cm = Management(consumer)
        negotiation_id = await cm.start_negotiation(provider, offer=WEATHER_OFFER)
        done = await cm.await_negotiation(negotiation_id, "TERMINATED")
        assert done["state"] == "TERMINATED", done
        assert "delivery deadline" in done["reason"] and "cannot reach" in done["reason"], done["reason"]

        # The operator's log says it too: the failed delivery, and how the negotiation ended.
        def lines():
            return [
                (r.levelname, r.getMessage(), getattr(r, "process_id", None))
                for r in caplog.records
                if r.name == "connector.control"
            ]

        ended = ("INFO", f"negotiation TERMINATED: {done['reason']}", negotiation_id)
        await wait_for(lambda: ended in lines(), timeout=5)
        assert ("WARNING", "delivery failed", negotiation_id) in lines(), lines()
        assert lines().count(ended) == 1, lines()
