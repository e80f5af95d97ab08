"""Two replicas of one provider node, each `connector serve` in its own process, on one PostgreSQL database and
sharing their ports (node.reuse_port), serving a consumer node (SQLite) over mutual TLS:

- one replica is killed (SIGKILL) in the middle of 100 negotiations, each followed by a pull transfer: every
  process still ends, in the same state on both sides, with no agreement made twice, and both nodes' evidence logs
  check intact;
- parallel transfers under an agreement that allows three uses, spread over both replicas, start three times.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import json
import os
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psycopg
from dataplane_e2e.kit import data_section
from nodekit import API_KEY, Management, Participant, acli, make_participant, running_node, write_config
from replicakit import Serving, as_replica

OFFERS = """
[[assets]]
id = "weather"
title = "Hourly weather"
source = {type = "file", path = "weather.bin"}
formats = ["HttpData-PULL"]
[[assets]]
id = "prices"
title = "Prices, three uses"
source = {type = "file", path = "weather.bin"}
formats = ["HttpData-PULL"]
[[policies]]
id = "use"
policy = {permission = [{action = "use"}]}
[[policies]]
id = "three-uses"
[policies.policy]
permission = [{action = "use", constraint = [{leftOperand = "count", operator = "lteq", rightOperand = "3"}]}]
[[offers]]
id = "weather-offer"
asset = "weather"
contract_policy = "use"
[[offers]]
id = "prices-offer"
asset = "prices"
contract_policy = "three-uses"
"""
FAST_RETRIES = "\n[dsp]\nretry_initial = 0.1\nretry_max = 1.0\n"
TRANSIENT = (aiohttp.ClientError, ConnectionError, asyncio.TimeoutError)


@dataclass
class World:
    provider: Participant
    consumer: Participant
    pcfg: Path
    ccfg: Path
    url: str
    data: bytes
    replicas: list[Serving] = field(default_factory=list)
    consumer_node: Serving | None = None
    session: aiohttp.ClientSession | None = None

    @functools.cached_property
    def client_ssl(self) -> ssl.SSLContext:
        """The consumer's certificate, as the data plane's client presents it (one context: connections reused)."""
        return self.consumer.client_ssl()

    async def call(self, method: str, path: str, body: Any = None, expect: int | None = 200) -> Any:
        """The consumer's management API (one process, never killed)."""
        assert self.session is not None
        url = f"http://127.0.0.1:{self.consumer.management_port}{path}"
        async with self.session.request(method, url, json=body, headers={"X-Api-Key": API_KEY}) as resp:
            data = await resp.json(content_type=None) if resp.status != 204 else None
            if expect is not None and resp.status != expect:
                raise AssertionError(f"{method} {path}: {resp.status} {data}")
            return data

    def provider_rows(self, sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.url) as conn:
            return conn.execute(sql).fetchall()  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def world(authority: Any, tmp_path: Path, url: str) -> AsyncIterator[World]:
    provider = make_participant(authority, tmp_path, "provider")
    consumer = make_participant(authority, tmp_path, "consumer")
    root = tmp_path / "provider-data"
    root.mkdir()
    data = os.urandom(64 * 1024 + 7)
    (root / "weather.bin").write_bytes(data)
    pcfg = write_config(provider, tmp_path, extra=data_section(root, tmp_path / "provider-inbox") + OFFERS)
    pcfg.write_text(as_replica(pcfg.read_text(), url))
    ccfg = write_config(
        consumer, tmp_path, extra=data_section(tmp_path / "consumer-data", tmp_path / "inbox") + FAST_RETRIES
    )
    w = World(provider, consumer, pcfg, ccfg, url, data)
    w.replicas = [Serving(pcfg, tmp_path / f"replica-{n}.log").start() for n in (1, 2)]
    w.consumer_node = Serving(ccfg, tmp_path / "consumer.log")
    try:
        for replica in w.replicas:
            await replica.ready()
        w.consumer_node.start()  # (it logs warnings only: it is ready when it answers)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
            w.session = session
            await _answering(w)
            yield w
    finally:
        for process in [*w.replicas, w.consumer_node]:
            process.stop()


async def _answering(w: World) -> None:
    for _ in range(400):
        with contextlib.suppress(*TRANSIENT):
            if await w.call("GET", "/check/readiness", expect=None) is not None:
                return
        await asyncio.sleep(0.05)
    raise AssertionError("the consumer did not start")


def _negotiation(w: World, offer: str, dataset: str) -> dict[str, Any]:
    return {
        "counterPartyAddress": f"https://localhost:{w.provider.protocol_port}/dsp/2025-1",
        "counterPartyId": w.provider.participant_id,
        "offerId": offer,
        "datasetId": dataset,
    }


async def _wait(w: World, kind: str, pid: str, *states: str) -> dict[str, Any]:
    wanted = ",".join((*states, "TERMINATED"))
    for _ in range(10):
        found = await w.call("GET", f"/v1/{kind}/{pid}?wait={wanted}&timeout=30")
        if found["state"] in (*states, "TERMINATED"):
            return found
    raise AssertionError(f"{kind} {pid} stayed {found['state']}")


async def _provider(w: World, method: str, url: str, token: str) -> tuple[int, bytes]:
    """A request to the provider's data listener (either replica) with the consumer's certificate, tried again
    while the replica answering it is gone (a connection reset, a refusal, a 5xx)."""
    assert w.session is not None
    ssl = w.client_ssl
    for _ in range(100):
        try:
            async with w.session.request(method, url, ssl=ssl, headers={"Authorization": f"Bearer {token}"}) as resp:
                body = await resp.read()
                if resp.status < 500:
                    return resp.status, body
        except TRANSIENT:
            pass
        await asyncio.sleep(0.2)
    raise AssertionError(f"{url} never answered")


@dataclass
class Tally:
    finalized: int = 0
    transfers: dict[str, str] = field(default_factory=dict)  # consumer transfer id -> how it ended
    delivered_before_kill: int = 0


async def _exchange(w: World, tally: Tally, enough: asyncio.Event, target: int) -> None:
    """Negotiate the weather offer, then pull it under a transfer and complete it, as a consumer does."""
    neg = await w.call("POST", "/v1/negotiations", _negotiation(w, "weather-offer", "weather"), 201)
    neg = await _wait(w, "negotiations", neg["id"], "FINALIZED")
    assert neg["state"] == "FINALIZED", neg
    tally.finalized += 1
    if tally.finalized >= target:
        enough.set()
    tp = await w.call("POST", "/v1/transfers", {"agreementId": neg["agreementId"], "format": "HttpData-PULL"}, 201)
    tp = await _wait(w, "transfers", tp["id"], "STARTED")
    assert tp["state"] == "STARTED", tp
    while True:
        access = await w.call("POST", f"/v1/transfers/{tp['id']}/token", expect=None)
        if "endpoint" not in access:  # the provider could not be asked for a fresh token just now
            await asyncio.sleep(0.2)
            continue
        status, body = await _provider(w, "GET", access["endpoint"], access["authorization"])
        if status == 410:  # delivered by a replica that died before the bytes reached us: a new transfer it takes
            await w.call("POST", f"/v1/transfers/{tp['id']}/terminate", {"reason": "delivered, not received"})
            tally.transfers[tp["id"]] = "TERMINATED"
            return
        assert status == 200, (status, body[:300])
        if body == w.data:
            break
    status, seal = await _provider(w, "GET", access["sealEndpoint"], access["authorization"])
    assert status == 200, seal
    digest = {"seal": json.loads(seal), "sha256": hashlib.sha256(body).hexdigest(), "size": len(body)}
    verdict = await w.call("POST", f"/v1/transfers/{tp['id']}/seal", digest)
    assert verdict["verified"] is True, verdict
    await w.call("POST", f"/v1/transfers/{tp['id']}/complete")
    done = await _wait(w, "transfers", tp["id"], "COMPLETED")
    tally.transfers[tp["id"]] = done["state"]


async def _all(w: World, kind: str) -> list[dict[str, Any]]:
    page = await w.call("GET", f"/v1/{kind}?limit=500")
    return page["items"]


async def test_a_replica_killed_amid_100_exchanges_loses_nothing(authority, tmp_path, postgres_url):
    async with world(authority, tmp_path, postgres_url) as w:
        tally = Tally()
        enough = asyncio.Event()
        limit = asyncio.Semaphore(12)

        async def one() -> None:
            async with limit:
                await _exchange(w, tally, enough, target=30)

        exchanges = asyncio.gather(*(one() for _ in range(100)))
        await asyncio.wait_for(enough.wait(), 120)
        w.replicas[0].kill()  # in the middle: messages on their way, steps pending, streams open on it
        await asyncio.wait_for(exchanges, 300)
        assert w.replicas[1].served("POST /dsp/2025-1/negotiations/request") > 0  # both served
        assert w.replicas[0].served("POST /dsp/2025-1/negotiations/request") > 0

        negotiations = await _all(w, "negotiations")
        transfers = await _all(w, "transfers")
        assert len(negotiations) == 100 and {n["state"] for n in negotiations} == {"FINALIZED"}
        assert len(transfers) == 100
        ended = {t["id"]: t["state"] for t in transfers}
        assert ended == tally.transfers
        assert list(ended.values()).count("COMPLETED") >= 95, ended  # (terminated: delivered as a replica died)

        # The provider's side of every process, read from its database: the same end, once the consumer's last
        # messages (a completion, say) have reached it.
        ours = {p["providerPid"]: p["state"] for p in [*negotiations, *transfers]}
        both = "SELECT id, state FROM negotiations UNION ALL SELECT id, state FROM transfers"
        for _ in range(300):
            theirs = dict(w.provider_rows(both))
            if theirs == ours:
                break
            await asyncio.sleep(0.1)
        assert theirs == ours

        # One agreement per negotiation, the same on both sides.
        agreements = w.provider_rows("SELECT id, negotiation_id FROM agreements")
        assert len(agreements) == 100 and len({n for _, n in agreements}) == 100
        assert {a for a, _ in agreements} == {n["agreementId"] for n in negotiations}
        assert w.provider_rows("SELECT count(*) FROM work_claims") in ([(0,)], [(1,)])  # (the checkpoints' claim)

        for config in (w.pcfg, w.ccfg):
            ran = await acli("evidence", "check", "--config", str(config))
            assert ran.returncode == 0 and "the log is intact" in ran.stdout, ran.stdout + ran.stderr


async def test_the_count_limit_holds_with_transfers_spread_over_both_replicas(authority, tmp_path, postgres_url):
    async with world(authority, tmp_path, postgres_url) as w:
        neg = await w.call("POST", "/v1/negotiations", _negotiation(w, "prices-offer", "prices"), 201)
        neg = await _wait(w, "negotiations", neg["id"], "FINALIZED")
        assert neg["state"] == "FINALIZED", neg

        async def transfer() -> dict[str, Any]:
            body = {"agreementId": neg["agreementId"], "format": "HttpData-PULL"}
            tp = await w.call("POST", "/v1/transfers", body, 201)
            return await _wait(w, "transfers", tp["id"], "STARTED")

        ended = await asyncio.gather(*(transfer() for _ in range(16)))
        assert sorted(t["state"] for t in ended).count("STARTED") == 3, [t["state"] for t in ended]
        refused = [t for t in ended if t["state"] == "TERMINATED"]
        assert len(refused) == 13 and all("count" in (t.get("reason") or "") for t in refused), refused
        started = w.provider_rows(
            "SELECT count(DISTINCT t.id) FROM transfers t JOIN process_history h ON h.process_id = t.id "
            "WHERE t.role = 'provider' AND h.to_state = 'STARTED'"
        )
        assert started == [(3,)]
        spread = [r.served("POST /dsp/2025-1/transfers/request") for r in w.replicas]
        assert all(count > 0 for count in spread) and sum(spread) >= 16, spread


async def test_a_caller_waiting_on_one_replica_sees_the_change_another_replica_made(authority, tmp_path, postgres_url):
    provider = make_participant(authority, tmp_path, "provider")
    consumer = make_participant(authority, tmp_path, "consumer")
    root = tmp_path / "provider-data"
    root.mkdir()
    (root / "weather.bin").write_bytes(b"hourly weather\n")
    pcfg = write_config(provider, tmp_path, extra=data_section(root, tmp_path / "provider-inbox") + OFFERS)
    pcfg.write_text(as_replica(pcfg.read_text(), postgres_url))
    ccfg = write_config(consumer, tmp_path, extra=data_section(tmp_path / "consumer-data", tmp_path / "inbox"))
    async with running_node(pcfg) as a, running_node(pcfg) as b, running_node(ccfg):
        assert a.store.coordination.replica != b.store.coordination.replica
        cm = Management(consumer)
        neg = await cm.negotiate(provider, "weather-offer", "weather")
        assert neg["state"] == "FINALIZED", neg
        tp = await cm.call("POST", "/v1/transfers", {"agreementId": neg["agreementId"], "format": "HttpData-PULL"}, 201)
        tp = await cm.call("GET", f"/v1/transfers/{tp['id']}?wait=STARTED,TERMINATED&timeout=20", None, 200)
        assert tp["state"] == "STARTED", tp
        for changing, waiting, action, state in ((a, b, "suspend", "SUSPENDED"), (b, a, "terminate", "TERMINATED")):
            with waiting.control.engine.watching(tp["providerPid"]) as watch:
                changed = watch.changed
                await changing.control.command("transfer", tp["providerPid"], action, "maintenance")
                # (a change announced before, STARTED, may still be on its way to this replica: it comes first)
                deadline = asyncio.get_running_loop().time() + 5
                while watch.state != state:
                    left = deadline - asyncio.get_running_loop().time()
                    woke = left > 0 and await waiting.control.engine.wait_for(changed, left)
                    assert woke, f"{state} not seen by the other replica (last seen: {watch.state})"
                    changed = watch.changed


async def test_a_replica_lists_what_another_replica_changed_in_its_catalogue(authority, tmp_path, postgres_url):
    from datetime import UTC, datetime

    from nodekit import wait_for

    from connector.trust.claims import VerifiedClaims

    provider = make_participant(authority, tmp_path, "provider")
    pcfg = write_config(provider, tmp_path, extra=data_section(tmp_path / "provider-data", tmp_path / "inbox") + OFFERS)
    pcfg.write_text(as_replica(pcfg.read_text(), postgres_url))
    peer = VerifiedClaims("did:web:example.com:peer", datetime.now(UTC))
    async with running_node(pcfg) as a, running_node(pcfg) as b:

        async def offered(node: Any) -> list[str]:
            listing = await node.control.catalog.listing(peer)
            return [offer["@id"] for _, offers in listing.assets for offer in offers]

        for node in (a, b):  # each replica has decided its catalogue for this peer's class
            assert await offered(node) == ["prices-offer", "weather-offer"]
        pm = Management(provider)  # the management port is shared: whichever replica the kernel chooses
        await pm.offer("forecast", access={"permission": [{"action": "use"}]})
        for node in (a, b):
            await wait_for(lambda node=node: _has(offered(node), "forecast-offer"), timeout=10)
        closed = {"permission": [{"action": "use", "constraint": [MEMBERS_ONLY]}]}
        await pm.call("PUT", "/v1/policies/forecast-access", {"id": "forecast-access", "policy": closed}, 200)
        for node in (a, b):
            await wait_for(lambda node=node: _lacks(offered(node), "forecast-offer"), timeout=10)


MEMBERS_ONLY = {"leftOperand": "membership", "operator": "eq", "rightOperand": "eu-dataspace"}


async def _has(listed: Any, offer: str) -> bool:
    return offer in await listed


async def _lacks(listed: Any, offer: str) -> bool:
    return offer not in await listed
