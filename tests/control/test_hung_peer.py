"""A provider that hangs (its process stopped, SIGSTOP: the kernel accepts connections, nothing answers): the
consumer's deliveries to it end at the delivery deadline with a reason that says the peer did not answer, not one
attempt's timeout later, and once the provider runs again (SIGCONT) negotiations with it finish as usual. The
provider runs as operators run it."""

from __future__ import annotations

import asyncio
import signal

from nodekit import (
    WEATHER_OFFER,
    Management,
    NodeProcess,
    dsp_settings,
    offered_weather,
    provider_and_consumer,
    running_node,
)

QUICK = {"retry_initial": 0.05, "retry_max": 0.5, "delivery_deadline": 2.0}


async def test_deliveries_to_a_provider_that_hangs_end_at_their_deadline_and_it_is_dealt_with_again_after(
    authority, tmp_path
):
    provider, consumer, pcfg, ccfg = provider_and_consumer(
        authority, tmp_path, provider_extra=offered_weather(), consumer_extra=dsp_settings(**QUICK)
    )
    node = NodeProcess(pcfg, provider).start()
    try:
        async with running_node(ccfg):
            cm = Management(consumer)
            node.proc.send_signal(signal.SIGSTOP)
            loop = asyncio.get_running_loop()
            began = loop.time()
            started = [await cm.start_negotiation(provider, offer=WEATHER_OFFER) for _ in range(3)]
            ended = [await cm.await_negotiation(n, "TERMINATED", timeout=30) for n in started]
            took = loop.time() - began
            assert [n["state"] for n in ended] == ["TERMINATED"] * 3, ended
            for n in ended:
                assert "delivery deadline" in n["reason"] and "did not answer within" in n["reason"], n["reason"]
            assert took < 10, f"{took:.1f} s for a delivery deadline of 2 s"

            node.proc.send_signal(signal.SIGCONT)
            done = await cm.negotiate(provider, "weather-offer", "weather", offer=WEATHER_OFFER)
            assert done["state"] == "FINALIZED", done
            # Nothing of the hung time is left half-open on the provider's side.
            theirs = await Management(provider).call("GET", "/v1/negotiations", None, 200)
            assert {n["state"] for n in theirs["items"]} <= {"FINALIZED", "TERMINATED"}, theirs
    finally:
        node.proc.send_signal(signal.SIGCONT)
        node.stop()
