"""Usage policies between real nodes: purpose, count and time window, decided at negotiation and transfer time,
each refusal explained by its trace (also through `connector explain`)."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from nodekit import Management, acli, make_participant, running_node, write_config


@pytest.fixture
def pair(authority, tmp_path):
    provider = make_participant(authority, tmp_path, "provider")
    consumer = make_participant(authority, tmp_path, "consumer")
    return provider, consumer, write_config(provider, tmp_path), write_config(consumer, tmp_path)


def permission(*constraints):
    return {"permission": [{"action": "use", "constraint": list(constraints)}]}


async def transfer(cm, agreement_id):
    tp = await cm.call("POST", "/v1/transfers", {"agreementId": agreement_id}, 201)
    return await cm.call("GET", f"/v1/transfers/{tp['id']}?wait=STARTED,TERMINATED&timeout=20", None, 200)


async def test_a_purpose_mismatch_is_refused_with_the_reason_and_the_right_purpose_is_agreed(pair):
    provider, consumer, pcfg, ccfg = pair
    async with running_node(pcfg), running_node(ccfg):
        pm, cm = Management(provider), Management(consumer)
        offer = await pm.offer(
            "health",
            permission(
                {"leftOperand": "purpose", "operator": "isAnyOf", "rightOperand": ["research", "public-health"]}
            ),
        )
        refused = await cm.negotiate(provider, offer, "health", purpose="marketing")
        assert refused["state"] == "TERMINATED"
        assert "purpose" in refused["reason"] and "marketing" in refused["reason"], refused["reason"]
        agreed = await cm.negotiate(provider, offer, "health", purpose="research")
        assert agreed["state"] == "FINALIZED", agreed
        provider_side = await pm.call("GET", "/v1/negotiations?state=TERMINATED", None, 200)
        trace = [
            h
            for h in (await pm.call("GET", f"/v1/negotiations/{provider_side['items'][0]['id']}"))["history"]
            if h["cause"] == "contract policy decided"
        ][0]
        assert (
            "DENIED" in trace["detail"]["explanation"] and "declared by the consumer" in trace["detail"]["explanation"]
        )


async def test_the_count_limit_refuses_the_transfer_after_the_last_allowed_one(pair):
    provider, consumer, pcfg, ccfg = pair
    async with running_node(pcfg), running_node(ccfg):
        pm, cm = Management(provider), Management(consumer)
        offer = await pm.offer("prices", permission({"leftOperand": "count", "operator": "lteq", "rightOperand": "2"}))
        neg = await cm.negotiate(provider, offer, "prices")
        assert neg["state"] == "FINALIZED", neg
        assert (await transfer(cm, neg["agreementId"]))["state"] == "STARTED"
        assert (await transfer(cm, neg["agreementId"]))["state"] == "STARTED"
        third = await transfer(cm, neg["agreementId"])
        assert third["state"] == "TERMINATED"
        assert "count" in third["reason"] and "use 3" in third["reason"], third["reason"]


async def test_a_time_window_that_closes_between_two_transfers(pair, tmp_path):
    provider, consumer, pcfg, ccfg = pair
    closes = (datetime.now(UTC) + timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    async with running_node(pcfg), running_node(ccfg):
        pm, cm = Management(provider), Management(consumer)
        offer = await pm.offer(
            "quotes", permission({"leftOperand": "dateTime", "operator": "lteq", "rightOperand": closes})
        )
        neg = await cm.negotiate(provider, offer, "quotes")
        assert neg["state"] == "FINALIZED", neg
        assert (await transfer(cm, neg["agreementId"]))["state"] == "STARTED"
        await asyncio.sleep(
            max(0.0, (datetime.fromisoformat(closes.replace("Z", "+00:00")) - datetime.now(UTC)).total_seconds() + 1.1)
        )
        late = await transfer(cm, neg["agreementId"])
        assert late["state"] == "TERMINATED" and "dateTime" in late["reason"], late["reason"]
        provider_transfers = await pm.call("GET", "/v1/transfers?state=TERMINATED", None, 200)
        explained = await acli("explain", provider_transfers["items"][0]["id"], "--config", str(pcfg))
        assert explained.returncode == 0, explained.stderr
        assert "DENIED" in explained.stdout and "node clock" in explained.stdout, explained.stdout


async def test_a_counter_offer_looser_than_the_offer_is_refused_and_a_stricter_one_agreed(pair):
    provider, consumer, pcfg, ccfg = pair
    async with running_node(pcfg), running_node(ccfg):
        pm, cm = Management(provider), Management(consumer)
        await pm.offer("logs", permission({"leftOperand": "count", "operator": "lteq", "rightOperand": "5"}))
        address = f"https://localhost:{provider.protocol_port}/dsp/2025-1"

        async def request(count):
            offer = {
                "@id": "logs-offer",
                "@type": "Offer",
                "target": "logs",
                **permission({"leftOperand": "count", "operator": "lteq", "rightOperand": str(count)}),
            }
            neg = await cm.call(
                "POST",
                "/v1/negotiations",
                {
                    "counterPartyAddress": address,
                    "counterPartyId": provider.participant_id,
                    "offer": offer,
                    "datasetId": "logs",
                },
                201,
            )
            return await cm.call("GET", f"/v1/negotiations/{neg['id']}?wait=FINALIZED,TERMINATED&timeout=20")

        looser = await request(10)
        assert looser["state"] == "TERMINATED" and "count" in looser["reason"], looser["reason"]
        stricter = await request(3)
        assert stricter["state"] == "FINALIZED", stricter
        agreement = await cm.call("GET", f"/v1/agreements/{stricter['agreementId']}")
        assert agreement["policy"]["permission"][0]["constraint"][0]["rightOperand"] == "3"


async def test_offers_and_the_declared_purpose_go_out_in_terms_that_survive_expansion(pair):
    provider, consumer, pcfg, ccfg = pair
    async with running_node(pcfg), running_node(ccfg):
        pm, cm = Management(provider), Management(consumer)
        offer = await pm.offer(
            "health",
            permission(
                {"leftOperand": "purpose", "operator": "isAnyOf", "rightOperand": ["research"]},
                {"leftOperand": "countryOfEstablishment", "operator": "isPartOf", "rightOperand": "EU"},
            ),
        )
        catalog = await cm.call(
            "POST",
            "/v1/catalog/request",
            {
                "counterPartyAddress": f"https://localhost:{provider.protocol_port}/dsp/2025-1",
                "counterPartyId": provider.participant_id,
            },
            200,
        )
        (listed,) = catalog["datasets"][0]["offers"]
        operands = [c["leftOperand"] for c in listed["permission"][0]["constraint"]]
        assert operands == ["odrl:purpose", "https://w3id.org/connector/policy/countryOfEstablishment"]
        agreed = await cm.negotiate(provider, offer, "health", purpose="research")
        # Not established anywhere (no credentials in this pair): refused, but on the declared purpose it is heard.
        provider_side = (await pm.call("GET", "/v1/negotiations", None, 200))["items"][0]
        assert provider_side["purpose"] == "research", provider_side
        assert agreed["state"] == "TERMINATED" and "countryOfEstablishment" in agreed["reason"], agreed["reason"]
