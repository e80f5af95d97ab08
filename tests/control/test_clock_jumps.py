"""A node whose clock jumps while messages are on their way: an hour forward while a message is retried does not end
the delivery as if its deadline had passed, and neither an hour forward nor ten minutes back holds the next
messages (message spacing) for as long as the jump. The nodes' clocks are moved while they run (`running(...,
clock=)`); the provider is a real node, first away (a stand-in answering 503 on its port), and its clock moves
with the consumer's, so that its check of the time of the consumer's signature on the agreement (a signature
dated an hour ahead of its own clock is refused, rightly) does not come into it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from aiohttp import web
from nodekit import (
    WEATHER_OFFER,
    Management,
    dsp_settings,
    offered_weather,
    provider_and_consumer,
    running_node,
    serving_as,
    wait_for,
)

from connector.config import load_config
from connector.node.wiring import running

QUICK = {"retry_initial": 0.05, "retry_max": 0.2, "message_spacing": 0.2, "delivery_deadline": 60.0}


async def test_a_clock_that_jumps_neither_ends_deliveries_nor_holds_them_for_the_jump(authority, tmp_path):
    provider, consumer, pcfg, ccfg = provider_and_consumer(
        authority, tmp_path, offered_weather(), dsp_settings(**QUICK)
    )
    answered: list[str] = []

    async def unavailable(request: web.Request) -> web.Response:
        answered.append(request.path)
        return web.json_response({"error": "starting"}, status=503)

    shift = [timedelta(0)]

    def clock() -> datetime:
        return datetime.now(UTC) + shift[0]

    async with running(load_config(ccfg, environ={}), clock=clock):
        cm = Management(consumer)
        async with serving_as(provider, unavailable):
            negotiation_id = await cm.start_negotiation(provider, offer=WEATHER_OFFER)
            await wait_for(lambda: len(answered) >= 2, timeout=10)
            shift[0] = timedelta(hours=1)  # forward, past the delivery deadline of the message being retried
            tried = len(answered)
            await wait_for(lambda: len(answered) >= tried + 2, timeout=10)  # still retried, not given up
        async with running(load_config(pcfg, environ={}), clock=clock):
            loop = asyncio.get_running_loop()
            began = loop.time()
            done = await cm.await_negotiation(negotiation_id, timeout=15)
            assert done["state"] == "FINALIZED", (done.get("reason"), done.get("history"))
            assert loop.time() - began < 10, "the messages queued after the jump were held back"
            shift[0] = timedelta(minutes=50)  # back ten minutes
            began = loop.time()
            again = await cm.negotiate(provider, "weather-offer", "weather", offer=WEATHER_OFFER)
            assert again["state"] == "FINALIZED", again
            assert loop.time() - began < 10


async def test_an_agreement_signed_by_a_clock_an_hour_ahead_is_refused_naming_the_clocks(authority, tmp_path):
    # The provider refuses, rightly, a signature dated an hour ahead of its own clock; the reason that ends the
    # negotiation on both sides says that the clocks disagree, and by how much.
    provider, consumer, pcfg, ccfg = provider_and_consumer(authority, tmp_path, offered_weather())
    ahead = lambda: datetime.now(UTC) + timedelta(hours=1)  # noqa: E731
    async with running_node(pcfg), running(load_config(ccfg, environ={}), clock=ahead):
        done = await Management(consumer).negotiate(provider, "weather-offer", "weather", offer=WEATHER_OFFER)
    assert done["state"] == "TERMINATED", done
    assert "dated in the future" in done["reason"] and "s ahead of this node's clock" in done["reason"], done
    assert "the signer's clock or this node's is wrong" in done["reason"], done
