"""Receipts between the two nodes: sent by the consumer, verified by the provider before it records one, and
fetched by the provider when it asks; the endpoints answer only the parties of the agreement."""

from __future__ import annotations

import json
import os

import aiohttp
from dataplane_e2e.kit import both
from duties_e2e.kit import agreed, delete_within, duties_of, duty_policy, offer_file, pulled, receipts_at
from nodekit import make_participant, running_node, wait_for

from connector.canonical import b64url, b64url_decode


def _dsp(participant) -> str:
    return f"https://localhost:{participant.protocol_port}/dsp/2025-1"


async def _call(method: str, url: str, who, body=None) -> tuple[int, dict]:
    ssl = who.client_ssl() if who is not None else who_less(url)
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url, json=body, ssl=ssl) as resp:
            return resp.status, await resp.json(content_type=None)


def who_less(url: str):
    import ssl

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


async def test_the_provider_verifies_each_receipt_and_only_the_parties_see_them(pair, authority):
    stranger = make_participant(authority, pair.tmp, "stranger")
    out = pair.tmp / "consumer-data" / "tide.bin"
    async with both(pair):
        await offer_file(pair, "tide", os.urandom(4096), duty_policy({"action": "inform"}))
        agreement = await agreed(pair, "tide")
        await pulled(pair, agreement, out)
        [notice] = await receipts_at(pair.pm, agreement, 1)
        jws = notice["jws"]
        receipts_url = f"{_dsp(pair.consumer)}/duties/agreements/{agreement}/receipts"

        # The consumer hands its receipts to the agreement's provider, and to nobody else.
        status, body = await _call("GET", receipts_url, pair.provider)
        assert status == 200 and body == {"agreementId": agreement, "receipts": [jws]}
        status, body = await _call("GET", receipts_url, stranger)
        assert status == 404 and body["code"] == "agreement.not_found"
        status, body = await _call("GET", receipts_url, None)
        assert status == 401

        # The provider takes a receipt again without recording it twice, and refuses what does not verify.
        sent = f"{_dsp(pair.provider)}/duties/receipts"
        assert await _call("POST", sent, pair.consumer, {"receipt": jws}) == (200, {"recorded": False})
        header, payload, signature = jws.split(".")
        claims = json.loads(b64url_decode(payload))
        claims["size"] += 1
        forged = f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"
        status, body = await _call("POST", sent, pair.consumer, {"receipt": forged})
        assert status == 400 and body["code"] == "duty.receipt_invalid" and "does not verify" in body["reason"]
        status, body = await _call("POST", sent, stranger, {"receipt": jws})
        assert status == 400 and f"not by {stranger.participant_id}" in body["reason"]
        status, body = await _call("POST", sent, pair.consumer, {"receipt": 42})
        assert status == 400 and body["code"] == "duty.receipt_invalid"
        assert len((await duties_of(pair.pm, agreement))["receipts"]) == 1


async def test_the_provider_fetches_the_receipts_it_missed(pair):
    pair.ccfg.write_text(pair.ccfg.read_text() + "\n[dsp]\nretry_initial = 5.0\n")
    out = pair.tmp / "consumer-data" / "snow.bin"
    async with running_node(pair.pcfg):
        async with running_node(pair.ccfg):
            await offer_file(pair, "snow", os.urandom(1000), duty_policy(delete_within("PT6S")))
            agreement = await agreed(pair, "snow")
            await pulled(pair, agreement, out)
    # The provider is away while the deletion is due: the consumer's receipt cannot reach it yet.
    async with running_node(pair.ccfg):
        assert out.exists()
        [issued] = await receipts_at(pair.cm, agreement, 1)
        assert issued["delivery"] is None and not out.exists()
        async with running_node(pair.pcfg):
            assert (await duties_of(pair.pm, agreement))["receipts"] == []
            fetched = await pair.pm.call("POST", f"/v1/agreements/{agreement}/duties", None, 200)
            assert fetched["fetched"] == {
                "asked": pair.consumer.participant_id,
                "received": 1,
                "new": 1,
                "refused": [],
            }
            [held] = fetched["receipts"]
            assert (held["direction"], held["duty"], held["jws"]) == ("received", "delete", issued["jws"])
            again = await pair.pm.call("POST", f"/v1/agreements/{agreement}/duties", None, 200)
            assert again["fetched"]["new"] == 0 and len(again["receipts"]) == 1

            async def delivered() -> bool:
                return (await receipts_at(pair.cm, agreement, 1))[0]["delivery"] == "delivered"

            await wait_for(delivered, 60, 0.2)
