"""A transfer is one use of its agreement: its data is delivered once. Within it an interrupted pull resumes,
but once the last byte was sent (or the seal served) no fresh token and no pull but a resume until the seal are
given; its seal stays available with the token held, even expired. The `count` of a policy counts these uses."""

from __future__ import annotations

import asyncio
import os

import aiohttp
import pytest
from dataplane_e2e.kit import Pair, access, agree, both, data_section, fetch, settle, sha, started, wait_state
from nodekit import make_participant, write_config

SIZE = 8 * 1024 * 1024


def _pair(authority, tmp_path, provider_data: str = "") -> Pair:
    provider = make_participant(authority, tmp_path, "provider")
    consumer = make_participant(authority, tmp_path, "consumer")
    root = tmp_path / "provider-data"
    root.mkdir()
    inbox = tmp_path / "consumer-inbox"
    pcfg = write_config(provider, tmp_path, extra=data_section(root, tmp_path / "provider-inbox", provider_data))
    ccfg = write_config(consumer, tmp_path, extra=data_section(tmp_path / "consumer-data", inbox))
    return Pair(provider, consumer, pcfg, ccfg, root, inbox, tmp_path)


def _refresh_url(info: dict) -> str:
    return info["endpoint"] + "/token"


async def _delivered_flow(pair: Pair, provider_pid: str) -> dict:
    """The provider's flow once it records the data delivered (the client may see the last byte first)."""
    for _ in range(100):
        flow = await pair.pm.call("GET", f"/v1/transfers/{provider_pid}/flow", None, 200)
        if flow["deliveredAt"] is not None:
            return flow
        await asyncio.sleep(0.05)
    raise AssertionError(f"the data of {provider_pid} was never recorded as delivered: {flow}")


async def test_once_delivered_a_transfer_serves_no_pull_and_no_token_but_its_seal(authority, tmp_path):
    pair = _pair(authority, tmp_path, "token_lifetime = 2.0")
    data = os.urandom(SIZE)
    (pair.root / "d.bin").write_bytes(data)
    async with both(pair):
        policy = {"leftOperand": "count", "operator": "lteq", "rightOperand": "1"}
        agreement = await _agree_with(pair, "d", {"type": "file", "path": "d.bin"}, policy)
        tp = await started(pair, agreement)
        info = await access(pair, tp["id"])
        # Before delivery the seal needs a valid token, as ever.
        early = await fetch(info["endpoint"], pair.consumer, info["authorization"], headers={"Range": "bytes=0-9"})
        assert early.status == 206
        got = await fetch(info["endpoint"], pair.consumer, info["authorization"])
        assert got.status == 200 and got.body == data
        again = await fetch(info["endpoint"], pair.consumer, info["authorization"])
        assert again.status == 410 and again.json()["code"] == "dataplane.delivered"
        assert "request a new transfer" in again.json()["reason"]
        tail = await fetch(info["endpoint"], pair.consumer, info["authorization"], headers={"Range": "bytes=100-"})
        assert tail.status == 410 and tail.json()["code"] == "dataplane.delivered"
        token = await fetch(_refresh_url(info), pair.consumer, None, method="POST")
        assert token.status == 410 and token.json()["code"] == "dataplane.delivered"
        held = await pair.cm.call("POST", f"/v1/transfers/{tp['id']}/token", None, 200)
        assert held["delivered"] is True and held["authorization"] == info["authorization"], held  # for the seal

        await asyncio.sleep(2.2)  # the token held has expired: the seal is still given for it
        seal = await fetch(info["sealEndpoint"], pair.consumer, info["authorization"])
        assert seal.status == 200 and seal.json()["claims"]["sha256"] == sha(data)
        assert (await settle(pair, tp["id"], data, seal.json()))["verified"]

        flow = await _delivered_flow(pair, tp["providerPid"])
        assert flow["bytesSent"] == SIZE + 10
        history = (await pair.pm.call("GET", f"/v1/transfers/{tp['providerPid']}", None, 200))["history"]
        assert any(h["cause"] == "data delivered in full" for h in history), history

        # The agreement allowed one use: it was this transfer, so the next is refused by the policy.
        second = await pair.cm.call("POST", "/v1/transfers", {"agreementId": agreement}, 201)
        second = await wait_state(pair.cm, second["id"], "TERMINATED")
        assert "count" in second["reason"], second["reason"]


async def test_after_the_last_byte_left_a_resume_gets_what_was_lost_in_flight_until_the_seal(authority, tmp_path):
    """The last byte leaving is no proof that it arrived: until the consumer asks for the seal, a resume (a range
    past byte 0 of the version sent) still gets the rest, with the token held even expired, within the
    allowance; nothing else is given, and nothing at all once the seal was served."""
    pair = _pair(authority, tmp_path, "token_lifetime = 2.0")
    data = os.urandom(SIZE)
    (pair.root / "d.bin").write_bytes(data)
    async with both(pair):
        tp = await started(pair, await agree(pair, "d", {"type": "file", "path": "d.bin"}))
        info = await access(pair, tp["id"])
        url, token = info["endpoint"], info["authorization"]
        got = await fetch(url, pair.consumer, token)
        assert got.status == 200 and got.body == data
        etag = got.headers["ETag"]
        await _delivered_flow(pair, tp["providerPid"])
        for refused_headers in ({}, {"Range": "bytes=1000-"}, {"Range": "bytes=0-", "If-Range": etag}):
            refused = await fetch(url, pair.consumer, token, headers=refused_headers)
            assert refused.status == 410 and refused.json()["code"] == "dataplane.delivered", refused_headers
        await asyncio.sleep(2.2)  # the token held has expired, and no fresh one is given
        fresh = await fetch(_refresh_url(info), pair.consumer, None, method="POST")
        assert fresh.status == 410 and fresh.json()["code"] == "dataplane.delivered"
        resume = {"Range": "bytes=1000-", "If-Range": etag}
        rest = await fetch(url, pair.consumer, token, headers=resume)
        assert rest.status == 206 and rest.body == data[1000:]
        with pytest.raises(aiohttp.ClientPayloadError):  # cut at twice the data's size: the allowance is spent
            await fetch(url, pair.consumer, token, headers=resume)
        spent = await fetch(url, pair.consumer, token, headers=resume)
        assert spent.status == 410 and spent.json()["code"] == "dataplane.delivered"

    async with both(pair):
        tp = await started(pair, await agree(pair, "e", {"type": "file", "path": "d.bin"}))
        info = await access(pair, tp["id"])
        url, token = info["endpoint"], info["authorization"]
        got = await fetch(url, pair.consumer, token)
        seal = await fetch(info["sealEndpoint"], pair.consumer, token)
        assert got.status == seal.status == 200
        resume = {"Range": "bytes=1000-", "If-Range": got.headers["ETag"]}
        sealed = await fetch(url, pair.consumer, token, headers=resume)
        assert sealed.status == 410 and sealed.json()["code"] == "dataplane.delivered"


async def _agree_with(pair: Pair, asset_id: str, source: dict, constraint: dict) -> str:
    pm, cm = pair.pm, pair.cm
    await pm.call("POST", "/v1/assets", {"id": asset_id, "title": asset_id, "source": source}, 201)
    policy = {"permission": [{"action": "use", "constraint": [constraint]}]}
    await pm.call("POST", "/v1/policies", {"id": f"{asset_id}-use", "policy": policy}, 201)
    offer = {"id": f"{asset_id}-offer", "assetId": asset_id, "contractPolicyId": f"{asset_id}-use"}
    await pm.call("POST", "/v1/offers", offer, 201)
    neg = await cm.negotiate(pair.provider, f"{asset_id}-offer", asset_id)
    assert neg["state"] == "FINALIZED", neg
    return neg["agreementId"]


async def test_an_interrupted_pull_resumes_but_ranges_short_of_the_end_do_not_fetch_the_data_again(pair):
    data = os.urandom(SIZE)
    (pair.root / "d.bin").write_bytes(data)
    async with both(pair):
        tp = await started(pair, await agree(pair, "d", {"type": "file", "path": "d.bin"}))
        info = await access(pair, tp["id"])
        head = await fetch(info["endpoint"], pair.consumer, info["authorization"], headers={"Range": "bytes=0-999"})
        rest = await fetch(
            info["endpoint"],
            pair.consumer,
            info["authorization"],
            headers={"Range": "bytes=1000-", "If-Range": head.headers["ETag"]},
        )
        assert head.status == rest.status == 206 and head.body + rest.body == data  # resumed: delivered once

        flow = await _delivered_flow(pair, tp["providerPid"])
        assert flow["bytesSent"] == SIZE

    # Another transfer: all but the last byte, again and again, never sends more than twice the data's size.
    async with both(pair):
        tp = await started(pair, await agree(pair, "e", {"type": "file", "path": "d.bin"}))
        info = await access(pair, tp["id"])
        short = {"Range": f"bytes=0-{SIZE - 2}"}
        for _ in range(2):
            got = await fetch(info["endpoint"], pair.consumer, info["authorization"], headers=short)
            assert got.status == 206 and len(got.body) == SIZE - 1
        with pytest.raises(aiohttp.ClientPayloadError):  # cut two bytes in: the allowance is spent
            await fetch(info["endpoint"], pair.consumer, info["authorization"], headers=short)
        refused = await fetch(info["endpoint"], pair.consumer, info["authorization"], headers=short)
        assert refused.status == 410 and refused.json()["code"] == "dataplane.delivered"
        flow = await _delivered_flow(pair, tp["providerPid"])
        assert flow["bytesSent"] == 2 * SIZE


async def test_a_new_pull_stops_the_one_still_streaming(pair):
    (pair.root / "big.bin").write_bytes(os.urandom(48 * 1024 * 1024))
    async with both(pair):
        tp = await started(pair, await agree(pair, "big", {"type": "file", "path": "big.bin"}))
        info = await access(pair, tp["id"])
        headers = {"Authorization": f"Bearer {info['authorization']}"}
        async with aiohttp.ClientSession() as session:
            first = await session.get(info["endpoint"], ssl=pair.consumer.client_ssl(), headers=headers)
            await first.content.readexactly(1024 * 1024)  # then stop reading: the stream stays open
            second = await session.get(info["endpoint"], ssl=pair.consumer.client_ssl(), headers=headers)
            assert second.status == 200
            broken = False
            try:
                await asyncio.wait_for(first.content.read(), 20)
            except aiohttp.ClientError:
                broken = True
            assert broken, "the first stream should break, not end"
            second.close()
            first.close()
