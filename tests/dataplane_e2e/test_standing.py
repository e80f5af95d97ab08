"""Revocation stops data, not only messages: a consumer whose credentials or certificate were revoked gets no
fresh token, no pull, and a download in progress is cut within a bounded time; its transfer ends TERMINATED with
the reason, and the refusal is recorded (verifications, history, evidence)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

import aiohttp
from dataplane_e2e.kit import Pair, access, agree, both, data_section, fetch, started, wait_state
from nodekit import make_participant, running_node, write_config
from trust_e2e.kit import NodeSpec, credentialed, dcp_config, last_record_id, make_federation, refusals

SIZE = 48 * 1024 * 1024
STATUS_MAX_AGE = 0.5
INTERVAL = 0.5  # data.standing_interval of the provider
BOUND = 10.0  # the time within which a stream of a revoked peer must be cut


def _with_data(config: Path, root: Path, inbox: Path, extra: str = "") -> Path:
    config.write_text(config.read_text() + data_section(root, inbox, extra))
    return config


async def _open_stream(info: dict, who) -> tuple[aiohttp.ClientSession, aiohttp.ClientResponse]:
    session = aiohttp.ClientSession()
    response = await session.get(
        info["endpoint"], ssl=who.client_ssl(), headers={"Authorization": f"Bearer {info['authorization']}"}
    )
    assert response.status == 200
    await response.content.readexactly(1024 * 1024)  # then stop reading: the stream stays open, the provider waits
    return session, response


async def _cut_within(pair: Pair, provider_pid: str, response: aiohttp.ClientResponse, seconds: float) -> float:
    """Wait, not reading, until the provider holds no stream of the transfer open; how long that took. Then the
    consumer must see its stream broken, not ended."""
    loop = asyncio.get_running_loop()
    started_at = loop.time()
    while True:
        flow = await pair.pm.call("GET", f"/v1/transfers/{provider_pid}/flow", None, 200)
        if flow["openStreams"] == 0:
            break
        assert loop.time() - started_at < seconds, "the stream was not cut in time"
        await asyncio.sleep(0.1)
    took = loop.time() - started_at
    try:
        async with asyncio.timeout(20):
            async for _ in response.content.iter_any():
                pass
    except aiohttp.ClientError:
        return took
    raise AssertionError("the stream ended cleanly instead of being cut")


def _evidence_kinds(store: Path, process_id: str) -> list[str]:
    conn = sqlite3.connect(store)
    try:
        rows = conn.execute("SELECT kind FROM evidence_records WHERE process_id = ? ORDER BY seq", [process_id])
        return [kind for (kind,) in rows.fetchall()]
    finally:
        conn.close()


async def test_once_its_credentials_are_revoked_a_consumer_gets_no_token_no_pull_and_its_stream_is_cut(tmp_path):
    fed = await make_federation(tmp_path, "Alpha Data Space").start()
    try:
        provider = credentialed(fed, tmp_path, "provider")
        consumer = credentialed(fed, tmp_path, "consumer")
        root, inbox = tmp_path / "provider-data", tmp_path / "consumer-inbox"
        root.mkdir()
        (root / "big.bin").write_bytes(os.urandom(SIZE))
        pspec = NodeSpec(provider, [fed], trust={"status_max_age": STATUS_MAX_AGE})
        pcfg = _with_data(
            dcp_config(pspec, tmp_path), root, tmp_path / "provider-inbox", f"standing_interval = {INTERVAL}"
        )
        ccfg = _with_data(dcp_config(NodeSpec(consumer, [fed]), tmp_path), tmp_path / "consumer-data", inbox)
        pair = Pair(provider, consumer, pcfg, ccfg, root, inbox, tmp_path)
        async with running_node(pcfg), running_node(ccfg):
            agreement = await agree(pair, "big", {"type": "file", "path": "big.bin"})
            pulled, refreshed, streamed = [await started(pair, agreement) for _ in range(3)]
            infos = {tp["id"]: await access(pair, tp["id"]) for tp in (pulled, refreshed, streamed)}
            session, response = await _open_stream(infos[streamed["id"]], consumer)
            since = await last_record_id(pair.pm)

            fed.authority.revoke_participant(consumer.participant_id, credentials_only=True)
            try:
                cut_after = await _cut_within(pair, streamed["providerPid"], response, BOUND)
            finally:
                response.close()
                await session.close()
            info = infos[pulled["id"]]
            pull = await fetch(info["endpoint"], consumer, info["authorization"], headers={"Range": "bytes=0-9"})
            assert pull.status == 403 and pull.json()["code"] == "credential.revoked", pull.json()
            assert "terminated" in pull.json()["reason"]
            info = infos[refreshed["id"]]
            token = await fetch(info["endpoint"] + "/token", consumer, None, method="POST")
            assert token.status == 403 and token.json()["code"] == "credential.revoked", token.json()

            for tp in (pulled, refreshed, streamed):
                ended = await wait_state(pair.cm, tp["id"], "TERMINATED")  # the consumer was told
                assert "credential.revoked" in ended["reason"], ended
                ended = await wait_state(pair.pm, tp["providerPid"], "TERMINATED")
                assert "no longer in standing" in ended["reason"], ended
            records = await refusals(pair.pm, since)
            assert {r["code"] for r in records} == {"credential.revoked"}, records
            paths = {r["path"] for r in records}
            assert any(p.endswith("/token") for p in paths) and len(paths) == 3, paths
        assert cut_after < BOUND, cut_after
        store = tmp_path / "var-provider" / "connector.sqlite"
        for tp in (pulled, refreshed, streamed):
            assert "standing.refused" in _evidence_kinds(store, tp["providerPid"])
    finally:
        await fed.stop()


async def test_a_download_in_progress_is_cut_when_the_consumer_s_certificate_is_revoked(authority, tmp_path):
    provider = make_participant(authority, tmp_path, "provider")
    consumer = make_participant(authority, tmp_path, "consumer")
    root, inbox = tmp_path / "provider-data", tmp_path / "consumer-inbox"
    root.mkdir()
    (root / "big.bin").write_bytes(os.urandom(SIZE))
    pcfg = write_config(
        provider, tmp_path, extra=data_section(root, tmp_path / "provider-inbox", f"standing_interval = {INTERVAL}")
    )
    ccfg = write_config(consumer, tmp_path, extra=data_section(tmp_path / "consumer-data", inbox))
    pair = Pair(provider, consumer, pcfg, ccfg, root, inbox, tmp_path)
    async with both(pair):
        tp = await started(pair, await agree(pair, "big", {"type": "file", "path": "big.bin"}))
        info = await access(pair, tp["id"])
        session, response = await _open_stream(info, consumer)
        since = await last_record_id(pair.pm)
        authority.revoke(consumer.participant_id)
        try:
            cut_after = await _cut_within(pair, tp["providerPid"], response, BOUND)
        finally:
            response.close()
            await session.close()
        assert cut_after < BOUND, cut_after
        ended = await wait_state(pair.pm, tp["providerPid"], "TERMINATED")
        assert "certificate.revoked" in ended["reason"], ended
        records = await refusals(pair.pm, since)
        assert [(r["code"], r["step"], r["method"]) for r in records] == [
            ("certificate.revoked", "certificate", "STREAM")
        ]
