"""What evidence costs: negotiation throughput and per-transfer cost with and without it, in the same run.

Two pairs of local nodes run as separate processes over mutual TLS (the helpers of bench_negotiation.py): one
pair with ``[evidence] enabled = false``, one with the default (every DSP message, state change and policy
decision logged in the hash chain, agreements signed and countersigned, seals logged). Rounds alternate between
the pairs so that machine noise hits both alike; medians over the rounds are reported.

- Negotiations: many at once (bounded concurrency), finalized per second, and CPU milliseconds per negotiation
  of each node (from /proc), which is what decides capacity (per core: 1000 / the provider's CPU ms).
- Transfers: small files pulled end to end (request, STARTED, token, GET data, GET seal, seal verified by the
  consumer, completion), per second and CPU per transfer; the data phase itself does not change with evidence.
- Evidence operations on the evidence pair's consumer afterwards: a checkpoint, one bundle export, the
  offline verification of that bundle, and a check of the whole log (per 1000 records).

    python benchmarks/bench_evidence.py [--negotiations 300] [--transfers 100] [--rounds 3] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import hashlib
import json
import os
import shutil
import ssl
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_negotiation import api, cpu_seconds, start, throughput, write_node

from connector.pki.authority import Authority
from connector.pki.trust_list import issue_trust_list

PAYLOAD = os.urandom(4096)


def seeds(root: Path) -> str:
    return f"""
[data]
root = "{root}"
[[assets]]
id = "weather"
title = "Hourly weather"
source = {{type = "file", path = "weather.bin"}}
[[policies]]
id = "use"
policy = {{permission = [{{action = "use"}}]}}
[[offers]]
id = "weather-offer"
asset = "weather"
contract_policy = "use"
"""


def make_pair(root: Path, authority: Authority, label: str, evidence: str) -> tuple[dict[str, Any], dict[str, Any]]:
    data = root / f"data-{label}"
    data.mkdir()
    (data / "weather.bin").write_bytes(PAYLOAD)
    provider = write_node(root, authority, f"provider-{label}", seeds(data) + evidence)
    consumer = write_node(
        root, authority, f"consumer-{label}", f'[data]\ninbox = "{root / ("inbox-" + label)}"\n' + evidence
    )
    for node in (provider, consumer):
        node["ca"] = authority.ca_cert_path
    return provider, consumer


async def agreement(provider: dict[str, Any], consumer: dict[str, Any]) -> str:
    address = f"https://localhost:{provider['port']}/dsp/2025-1"
    offer = {"@id": "weather-offer", "@type": "Offer", "target": "weather", "permission": [{"action": "use"}]}
    async with aiohttp.ClientSession() as session:
        neg = await api(
            session,
            consumer,
            "POST",
            "/v1/negotiations",
            {"counterPartyAddress": address, "counterPartyId": provider["pid"], "offer": offer, "datasetId": "weather"},
        )
        done = await api(session, consumer, "GET", f"/v1/negotiations/{neg['id']}?wait=FINALIZED,TERMINATED&timeout=60")
    if done["state"] != "FINALIZED":
        raise RuntimeError(f"negotiation ended {done['state']}: {done.get('reason')}")
    return str(done["agreementId"])


async def fetch(session: aiohttp.ClientSession, url: str, headers: dict[str, str], attempts: int = 5) -> bytes:
    """GET from the provider's data listener; a 503 (its per-peer limit reached: the node asks for tokens with the
    same identity) is asked again after its Retry-After."""
    for attempt in range(attempts):
        async with session.get(url, headers=headers) as resp:
            body = await resp.read()
            if resp.status == 503 and attempt + 1 < attempts:
                retry_after = resp.headers.get("Retry-After", "")
                await asyncio.sleep(min(float(retry_after), 2.0) if retry_after.isdigit() else 0.2)
                continue
            if resp.status != 200:
                raise RuntimeError(f"GET {url}: {resp.status} {body[:300]!r}")
            return body
    raise AssertionError("unreachable")


async def transfers(
    provider: dict[str, Any], consumer: dict[str, Any], agreement_id: str, count: int, concurrency: int
) -> tuple[float, int]:
    ctx = ssl.create_default_context(cafile=str(consumer["ca"]))
    ctx.load_cert_chain(consumer["dir"] / "tls.cert.pem", consumer["dir"] / "tls.key.pem")
    semaphore = asyncio.Semaphore(concurrency)
    completed = 0

    async def one(session: aiohttp.ClientSession, data_session: aiohttp.ClientSession) -> None:
        nonlocal completed
        async with semaphore:
            tp = await api(
                session, consumer, "POST", "/v1/transfers", {"agreementId": agreement_id, "format": "HttpData-PULL"}
            )
            tp = await api(session, consumer, "GET", f"/v1/transfers/{tp['id']}?wait=STARTED,TERMINATED&timeout=60")
            if tp["state"] != "STARTED":
                return
            access = await api(session, consumer, "POST", f"/v1/transfers/{tp['id']}/token")
            headers = {"Authorization": f"Bearer {access['authorization']}"}
            body = await fetch(data_session, access["endpoint"], headers)
            seal = json.loads(await fetch(data_session, access["sealEndpoint"], headers))
            await api(
                session,
                consumer,
                "POST",
                f"/v1/transfers/{tp['id']}/seal",
                {"seal": seal, "sha256": hashlib.sha256(body).hexdigest(), "size": len(body)},
            )
            await api(session, consumer, "POST", f"/v1/transfers/{tp['id']}/complete")
            completed += 1

    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency * 2)) as session,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, limit=concurrency * 2)) as data_session,
    ):
        started = time.perf_counter()
        await asyncio.gather(*(one(session, data_session) for _ in range(count)))
        elapsed = time.perf_counter() - started
    return elapsed, completed


def measure(procs: list[Any], work: Any) -> tuple[float, int, list[float]]:
    before = [cpu_seconds(p) for p in procs]
    elapsed, done = asyncio.run(work)
    cpu_ms = [(cpu_seconds(p) - b) * 1000 / max(1, done) for p, b in zip(procs, before)]
    return elapsed, done, cpu_ms


async def evidence_operations(
    provider: dict[str, Any], consumer: dict[str, Any], agreement_id: str, trust_list: str
) -> dict[str, Any]:
    from connector.evidence.audit import load_trust_list, verify_bundle

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as session:
        started = time.perf_counter()
        await api(session, consumer, "POST", "/v1/evidence/checkpoints", {})
        checkpoint_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        bundle = await api(session, consumer, "GET", f"/v1/evidence/agreements/{agreement_id}/bundle")
        export_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        check = await api(session, consumer, "POST", "/v1/evidence/check", {})
        check_ms = (time.perf_counter() - started) * 1000
    now = datetime.now(UTC)
    started = time.perf_counter()
    report = verify_bundle(bundle, [load_trust_list(trust_list, now)], now)
    verify_ms = (time.perf_counter() - started) * 1000
    if not report.ok or not check["ok"]:
        raise RuntimeError(f"evidence does not verify: {report.failures} {check.get('firstBreak')}")
    return {
        "checkpoint_ms": round(checkpoint_ms, 1),
        "export_bundle_ms": round(export_ms, 1),
        "bundle_bytes": len(json.dumps(bundle)),
        "bundle_records": len(bundle["log"]["proof"]["records"]),
        "bundle_digests": len(bundle["log"]["proof"]["bodies"]),
        "verify_bundle_offline_ms": round(verify_ms, 1),
        "log_records": check["records"],
        "check_whole_log_ms_per_1000_records": round(check_ms * 1000 / max(1, check["records"]), 1),
    }


def median_of(rounds: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--negotiations", type=int, default=300, help="negotiations per round and pair")
    parser.add_argument("--transfers", type=int, default=100, help="transfers per round and pair")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-evidence-"))
    atexit.register(shutil.rmtree, root, True)  # the nodes' folders go when the benchmark ends
    authority = Authority.init(root / "authority", "Bench Federation")
    trust_list = issue_trust_list(authority, root / "trust-list.jws").token
    pairs = {
        "without": make_pair(root, authority, "off", "[evidence]\nenabled = false\n"),
        "with": make_pair(root, authority, "on", ""),
    }
    procs = {label: [start(p), start(c)] for label, (p, c) in pairs.items()}
    results: dict[str, dict[str, list[dict[str, Any]]]] = {
        label: {"negotiation": [], "transfer": []} for label in pairs
    }
    try:
        agreements = {label: asyncio.run(agreement(*pair)) for label, pair in pairs.items()}
        for label, (p, c) in pairs.items():  # warm up both
            asyncio.run(throughput(p, c, 20, 8))
            asyncio.run(transfers(p, c, agreements[label], 10, 4))
        for _ in range(args.rounds):
            for label, (p, c) in pairs.items():
                elapsed, done, cpu = measure(procs[label], throughput(p, c, args.negotiations, args.concurrency))
                results[label]["negotiation"].append(
                    {"per_second": done / elapsed, "provider_cpu_ms": cpu[0], "consumer_cpu_ms": cpu[1], "done": done}
                )
                elapsed, done, cpu = measure(
                    procs[label], transfers(p, c, agreements[label], args.transfers, args.concurrency)
                )
                results[label]["transfer"].append(
                    {"per_second": done / elapsed, "provider_cpu_ms": cpu[0], "consumer_cpu_ms": cpu[1], "done": done}
                )
        operations = asyncio.run(evidence_operations(*pairs["with"], agreements["with"], trust_list))
    finally:
        for group in procs.values():
            for proc in group:
                proc.terminate()
                proc.wait(timeout=60)

    def summary(kind: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for label in pairs:
            rounds = results[label][kind]
            provider_ms = median_of(rounds, "provider_cpu_ms")
            out[label] = {
                "per_second": round(median_of(rounds, "per_second"), 1),
                "provider_cpu_ms": round(provider_ms, 2),
                "consumer_cpu_ms": round(median_of(rounds, "consumer_cpu_ms"), 2),
                "provider_capacity_per_core": round(1000 / provider_ms, 1),
                "completed": sum(r["done"] for r in rounds),
            }
        without, with_ = out["without"], out["with"]
        out["overhead"] = {
            "throughput_pct": round((without["per_second"] / with_["per_second"] - 1) * 100, 1),
            "provider_cpu_pct": round((with_["provider_cpu_ms"] / without["provider_cpu_ms"] - 1) * 100, 1),
            "consumer_cpu_pct": round((with_["consumer_cpu_ms"] / without["consumer_cpu_ms"] - 1) * 100, 1),
            "provider_cpu_ms_added": round(with_["provider_cpu_ms"] - without["provider_cpu_ms"], 2),
            "consumer_cpu_ms_added": round(with_["consumer_cpu_ms"] - without["consumer_cpu_ms"], 2),
        }
        return out

    print(
        json.dumps(
            {
                "negotiations": summary("negotiation"),
                "transfers": summary("transfer"),
                "evidence_operations": operations,
                "rounds": args.rounds,
                "negotiations_per_round": args.negotiations,
                "transfers_per_round": args.transfers,
                "concurrency": args.concurrency,
                "cpus": os.cpu_count(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
