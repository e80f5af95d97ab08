"""Nodes as operators run them: separate processes, the CLI, kill -9 in the middle, restart."""

import pytest
from nodekit import (
    WEATHER_OFFER,
    Management,
    NodeProcess,
    cli,
    dsp_settings,
    make_participant,
    offered_weather,
    peer_entry,
    write_config,
)

SEEDS = offered_weather(policy_id="use", url="http://127.0.0.1:9/weather", title="Hourly weather")
# Deliveries go on for a minute, retried at least every half second, so that a node killed and started again in
# between is reached.
PATIENT = dsp_settings(delivery_deadline=60, retry_max=0.5)


@pytest.fixture
def nodes(authority, tmp_path):
    provider = make_participant(authority, tmp_path, "provider")
    consumer = make_participant(authority, tmp_path, "consumer")
    pcfg = write_config(provider, tmp_path, extra=SEEDS + PATIENT)
    ccfg = write_config(consumer, tmp_path, extra=peer_entry(provider) + PATIENT)
    p, c = NodeProcess(pcfg, provider), NodeProcess(ccfg, consumer)
    yield p, c, pcfg, ccfg
    p.stop()
    c.stop()


def test_two_nodes_negotiate_through_the_cli(nodes):
    p, c, pcfg, ccfg = nodes
    p.start()
    c.start()
    result = cli("catalog", "provider", "--config", str(ccfg))
    assert result.returncode == 0, result.stderr
    assert "weather-offer" in result.stdout and "Hourly weather" in result.stdout
    result = cli("negotiate", "provider", "weather-offer", "--config", str(ccfg))
    assert result.returncode == 0, result.stderr + result.stdout
    assert result.stdout.startswith("FINALIZED: agreement ")
    negotiation_id = result.stdout.rsplit("(negotiation ", 1)[1].split(")")[0]
    listing = cli("negotiations", "--config", str(ccfg))
    assert "FINALIZED" in listing.stdout
    assert negotiation_id in listing.stdout  # in full: the id is what `negotiations ID` and `explain` take
    bad = cli("negotiate", "provider", "no-such-offer", "--dataset", "weather", "--config", str(ccfg))
    assert bad.returncode == 2 and "no-such-offer" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


async def test_a_negotiation_interrupted_by_kill_9_finishes_after_restart(nodes):
    p, c, pcfg, ccfg = nodes
    c.start()  # the provider is down: the request cannot be delivered yet
    cm = Management(c.participant)
    neg = await cm.call(
        "POST",
        "/v1/negotiations",
        {
            "peer": "provider",
            "offerId": "weather-offer",
            "datasetId": "weather",
            "offer": WEATHER_OFFER,
        },
        201,
    )
    state = await cm.call("GET", f"/v1/negotiations/{neg['id']}", None, 200)
    assert state["state"] == "REQUESTED"
    c.kill()
    p.start()
    c.start()  # resumes the undelivered request
    done = await cm.await_negotiation(neg["id"], timeout=30)
    assert done["state"] == "FINALIZED", done
    causes = [h["cause"] for h in done["history"]]
    assert "delivered ContractRequestMessage" in causes


async def test_a_provider_killed_before_its_agreement_reached_the_consumer_resumes(nodes):
    p, c, pcfg, ccfg = nodes
    p.start()
    c.start()
    cm = Management(c.participant)
    neg = await cm.call(
        "POST", "/v1/negotiations", {"peer": "provider", "offerId": "weather-offer", "datasetId": "weather"}, 201
    )
    # Take the consumer away before the provider's agreement arrives, then crash the provider while it retries.
    c.kill()
    import asyncio

    pm = Management(p.participant)
    for _ in range(100):
        page = await pm.call("GET", "/v1/negotiations", None, 200)
        if page["items"] and page["items"][0]["state"] in ("AGREED", "REQUESTED"):
            break
        await asyncio.sleep(0.05)
    p.kill()
    p.start()
    c.start()
    done = await cm.await_negotiation(neg["id"], timeout=30)
    assert done["state"] == "FINALIZED", done
