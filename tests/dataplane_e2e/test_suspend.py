"""Suspend, resume and terminate act on the data plane at once: an open stream stops mid-transfer, tokens are
refused while suspended, and the pull resumes with a range once the transfer runs again."""

from __future__ import annotations

import asyncio
import os

import aiohttp
import pytest
from dataplane_e2e.kit import Pair, access, agree, both, fetch, settle, sha, started, wait_state

SIZE = 48 * 1024 * 1024


async def _open_stream(pair: Pair, info: dict, headers: dict | None = None):
    session = aiohttp.ClientSession()
    response = await session.get(
        info["endpoint"],
        ssl=pair.consumer.client_ssl(),
        headers={"Authorization": f"Bearer {info['authorization']}", **(headers or {})},
    )
    return session, response


async def _read_until_broken(response: aiohttp.ClientResponse) -> tuple[bytes, bool]:
    got = bytearray()
    try:
        async for chunk in response.content.iter_any():
            got += chunk
    except aiohttp.ClientError:
        return bytes(got), True
    return bytes(got), False


@pytest.mark.parametrize("who", ["consumer", "provider"])
async def test_a_suspension_stops_the_stream_and_a_resume_continues_it_with_a_range(pair, who):
    data = os.urandom(SIZE)
    (pair.root / "big.bin").write_bytes(data)
    async with both(pair):
        tp = await started(pair, await agree(pair, "big", {"type": "file", "path": "big.bin"}))
        info = await access(pair, tp["id"])
        session, response = await _open_stream(pair, info)
        try:
            assert response.status == 200
            etag = response.headers["ETag"]
            first = await response.content.readexactly(1024 * 1024)  # then stop reading: the stream is open
            manager, pid = (pair.cm, tp["id"]) if who == "consumer" else (pair.pm, tp["providerPid"])
            await manager.call("POST", f"/v1/transfers/{pid}/suspend", {"reason": "pause please"}, 200)
            await wait_state(pair.pm, tp["providerPid"], "SUSPENDED")
            await wait_state(pair.cm, tp["id"], "SUSPENDED")
            rest, broken = await asyncio.wait_for(_read_until_broken(response), 20)
            assert broken, "the stream should break, not end"
            held = first + rest
            assert len(held) < SIZE and data.startswith(held)
        finally:
            response.close()
            await session.close()
        refused = await fetch(info["endpoint"], pair.consumer, info["authorization"])
        assert refused.status == 409 and refused.json()["code"] == "dataplane.suspended"
        assert (await pair.cm.call("POST", f"/v1/transfers/{tp['id']}/token"))["status"] == 409

        await manager.call("POST", f"/v1/transfers/{pid}/resume", None, 200)
        await wait_state(pair.cm, tp["id"], "STARTED")
        await wait_state(pair.pm, tp["providerPid"], "STARTED")
        stale = await fetch(info["endpoint"], pair.consumer, info["authorization"])
        assert stale.status == 401 and stale.json()["code"] == "token.revoked"
        fresh = await access(pair, tp["id"])
        tail = await fetch(
            fresh["endpoint"],
            pair.consumer,
            fresh["authorization"],
            headers={"Range": f"bytes={len(held)}-", "If-Range": etag},
        )
        assert tail.status == 206 and tail.headers["Content-Range"] == f"bytes {len(held)}-{SIZE - 1}/{SIZE}"
        whole = held + tail.body
        assert whole == data
        seal = await fetch(fresh["sealEndpoint"], pair.consumer, fresh["authorization"], headers={"If-Match": etag})
        assert seal.json()["claims"]["sha256"] == sha(data)
        assert (await settle(pair, tp["id"], whole, seal.json()))["verified"]
        await pair.cm.call("POST", f"/v1/transfers/{tp['id']}/complete", None, 200)
        await wait_state(pair.pm, tp["providerPid"], "COMPLETED")


async def test_a_termination_stops_the_stream_at_once(pair):
    (pair.root / "big.bin").write_bytes(os.urandom(SIZE))
    async with both(pair):
        tp = await started(pair, await agree(pair, "big", {"type": "file", "path": "big.bin"}))
        info = await access(pair, tp["id"])
        session, response = await _open_stream(pair, info)
        try:
            await response.content.readexactly(256 * 1024)
            await pair.pm.call("POST", f"/v1/transfers/{tp['providerPid']}/terminate", {"reason": "abuse"}, 200)
            rest, broken = await asyncio.wait_for(_read_until_broken(response), 20)
            assert broken and len(rest) < SIZE
        finally:
            response.close()
            await session.close()
        tp = await wait_state(pair.cm, tp["id"], "TERMINATED")
        assert "abuse" in (tp["reason"] or "")
        flow = await pair.pm.call("GET", f"/v1/transfers/{tp['providerPid']}/flow", None, 200)
        assert flow["openStreams"] == 0


async def test_a_range_for_a_changed_file_is_served_whole(pair):
    path = pair.root / "v.bin"
    path.write_bytes(b"version one " * 1000)
    async with both(pair):
        tp = await started(pair, await agree(pair, "v", {"type": "file", "path": "v.bin"}))
        info = await access(pair, tp["id"])
        # Ranges short of the last byte: the data is not delivered yet, so the transfer serves further pulls.
        first = await fetch(info["endpoint"], pair.consumer, info["authorization"], headers={"Range": "bytes=0-99"})
        assert first.status == 206
        path.write_bytes(b"version two!" * 1000)
        head = await fetch(info["endpoint"], pair.consumer, info["authorization"], headers={"Range": "bytes=0-9"})
        assert head.status == 206 and head.headers["ETag"] != first.headers["ETag"]
        beyond = await fetch(
            info["endpoint"],
            pair.consumer,
            info["authorization"],
            headers={"Range": "bytes=999999-", "If-Range": head.headers["ETag"]},
        )
        assert beyond.status == 416 and beyond.headers["Content-Range"] == "bytes */12000"
        again = await fetch(
            info["endpoint"],
            pair.consumer,
            info["authorization"],
            headers={"Range": "bytes=100-", "If-Range": first.headers["ETag"]},
        )
        assert again.status == 200 and again.body == path.read_bytes()
        stale_seal = await fetch(
            info["sealEndpoint"], pair.consumer, info["authorization"], headers={"If-Match": first.headers["ETag"]}
        )
        assert stale_seal.status == 412
        # The whole was sent: that was the transfer's one use.
        after = await fetch(info["endpoint"], pair.consumer, info["authorization"], headers={"Range": "bytes=0-9"})
        assert after.status == 410 and after.json()["code"] == "dataplane.delivered"
