"""Negotiation latency and provider throughput between two local nodes over mutual TLS.

Two nodes run as separate processes (as operators run them), with certificates from the project's own PKI and
the default configuration (evidence on, agreements signed and countersigned).
- Latency: one consumer asks the provider's catalogue, then negotiates one of its offers, and waits for
  FINALIZED; repeated sequentially, median and p95 of the whole catalogue-to-FINALIZED time.
- Throughput: the consumer starts many negotiations at once (bounded concurrency); the figure is how many the
  provider finalised per second, from the first request to the last FINALIZED, end to end on this machine,
  where the provider, the consumer and this load generator share the cores. Several rounds; the median round
  is reported with the range.
- CPU: milliseconds of CPU (all threads, user and system, from /proc) per finalised negotiation, for each node
  and for the load generator, and how busy the machine's cores were. Capacity per core is 1000 / CPU ms: what
  one core given to that node alone would finalise per second (an estimate: measured under contention, it is
  on the safe side). When the cores are nearly all busy, end-to-end throughput is bounded by the sum of the
  three CPU figures, not by any one process. Each node's CPU is also split between its event loop (the main
  thread: HTTP, TLS, the DSP handlers) and its other threads (mostly the store's, where every step's
  transaction runs with the Python around it).
- Baseline in the same run: a plain mutual-TLS request/response round trip between the same two machines'
  worth of processes (the provider's version endpoint), so the ratio shows what the protocol costs on top of
  the transport on this machine.
Peak RSS of each node is read from /proc at the end. No timed assertions: this prints figures, and whether
they meet the targets (median under 100 ms, at least 300 finalised per second).

With --data-space the two nodes are those of the demo's data space instead (Tokyo in the Japanese federation
provides, Berlin in the European one asks): credentials verified on every DSP request, two trust lists, status
lists from the authorities' services, and the demo's membership policy; the other set-up is certificate-only.

With --store-url the provider keeps its state in that PostgreSQL database (empty, of its own) instead of SQLite;
the database server's own CPU is not in the provider's figure.

    python benchmarks/bench_negotiation.py [--latency-runs 200] [--throughput 1000] [--rounds 3] [--concurrency 64]
                                           [--data-space] [--store-url postgresql://...]
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from profiling import Sampler, summary
from reporting import Figure, report

from connector.demo import workspace
from connector.demo.processes import DataSpace
from connector.pki.authority import Authority

API_KEY = "bench-api-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_node(root: Path, authority: Authority, name: str, extra: str = "") -> dict:
    port, mport = free_port(), free_port()
    pid = f"did:web:localhost%3A{port}:{name}"
    authority.issue_participant(pid, ["localhost", "127.0.0.1"], root / name)
    config = root / f"{name}.toml"
    config.write_text(f"""
[node]
participant_id = "{pid}"
data_dir = "{root / ("var-" + name)}"
[identity]
tls_cert = "{root / name / "tls.cert.pem"}"
tls_key = "{root / name / "tls.key.pem"}"
signing_key = "{root / name / "signing.key.pem"}"
signing_cert = "{root / name / "signing.cert.pem"}"
[protocol]
listen = "127.0.0.1:{port}"
[management]
listen = "127.0.0.1:{mport}"
api_key = "{API_KEY}"
[trust]
ca = ["{authority.ca_cert_path}"]
crl = ["{authority.crl_path}"]
[log]
level = "warning"
{extra}
""")
    return {
        "pid": pid,
        "port": port,
        "mport": mport,
        "config": config,
        "dir": root / name,
        "tls": (root / name / "tls.cert.pem", root / name / "tls.key.pem"),
        "ca": authority.ca_cert_path,
    }


SEEDS = """
[[assets]]
id = "weather"
title = "Hourly weather"
source = {type = "http", url = "http://127.0.0.1:9/weather"}
[[policies]]
id = "use"
policy = {permission = [{action = "use"}]}
[[offers]]
id = "weather-offer"
asset = "weather"
contract_policy = "use"
"""


def data_space(root: Path) -> tuple[DataSpace, dict, dict]:
    """The demo's data space (two federation authorities, three nodes), started; Tokyo provides, Berlin asks."""
    ws = workspace.create(root / "data-space", "local")
    space = DataSpace.of(ws)
    asyncio.run(space.start())

    def node(key: str) -> dict:
        org = ws.organisation(key)
        identity = ws.path(f"orgs/{key}/identity")
        return {
            "pid": org["participantId"],
            "port": int(org["listen"]["protocol"].rsplit(":", 1)[1]),
            "mport": int(org["listen"]["management"].rsplit(":", 1)[1]),
            "api_key": ws.api_key(org),
            "tls": (identity / "tls.cert.pem", identity / "tls.key.pem"),
            "ca": ws.path(ws.authority(org["federation"])["caCertificate"]),
        }

    return space, node("tokyo-mobility"), node("berlin-energy")


def space_process(space: DataSpace, key: str) -> subprocess.Popen:
    [service] = [s for s in space.services if s.name == key]
    assert service.process is not None
    return service.process


def start(node: dict) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "serve", "--config", str(node["config"])],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{node['mport']}/check/readiness", timeout=1):
                return proc
        except OSError:
            time.sleep(0.05)
    raise SystemExit("node did not start")


def cpu_seconds(proc: subprocess.Popen) -> float:
    fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(proc: subprocess.Popen) -> tuple[float, float]:
    """(event loop, other threads) CPU seconds of a node so far: its main thread runs the event loop (HTTP, TLS,
    the DSP handlers), the others are the store's thread (every step's transaction, with the Python that runs in
    it) and any worker threads."""
    loop = other = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{proc.pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # a thread that ended meanwhile (its time is lost from the split, not the total)
            continue
        seconds = (int(fields[11]) + int(fields[12])) / tick
        if task.name == str(proc.pid):
            loop += seconds
        else:
            other += seconds
    return loop, other


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    tick = os.sysconf("SC_CLK_TCK")
    return (total - idle) / tick, total / tick


def peak_rss_mib(proc: subprocess.Popen) -> float:
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def api(session: aiohttp.ClientSession, node: dict, method: str, path: str, body=None, attempts: int = 5):
    """A management API call; a 503 (a node, or its peer, busy: their [limits]) is asked again after its
    Retry-After, as a client should."""
    for attempt in range(attempts):
        async with session.request(
            method,
            f"http://127.0.0.1:{node['mport']}{path}",
            json=body,
            headers={"X-Api-Key": node.get("api_key", API_KEY)},
        ) as resp:
            data = await resp.json(content_type=None)
            if resp.status == 503 and attempt + 1 < attempts:
                retry_after = resp.headers.get("Retry-After", "")
                await asyncio.sleep(min(float(retry_after), 2.0) if retry_after.isdigit() else 0.2)
                continue
            if resp.status >= 400:
                raise RuntimeError(f"{method} {path}: {resp.status} {data}")
            return data
    raise AssertionError("unreachable")


async def latency(provider: dict, consumer: dict, runs: int) -> list[float]:
    address = f"https://localhost:{provider['port']}/dsp/2025-1"
    times = []
    async with aiohttp.ClientSession() as session:
        for _ in range(runs):
            started = time.perf_counter()
            catalog = await api(session, consumer, "POST", "/v1/catalog/request", {"counterPartyAddress": address})
            dataset = catalog["datasets"][0]
            offer = {**dataset["offers"][0], "target": dataset["id"]}
            neg = await api(
                session,
                consumer,
                "POST",
                "/v1/negotiations",
                {
                    "counterPartyAddress": address,
                    "counterPartyId": catalog["participantId"],
                    "offer": offer,
                    "datasetId": dataset["id"],
                },
            )
            done = await api(
                session, consumer, "GET", f"/v1/negotiations/{neg['id']}?wait=FINALIZED,TERMINATED&timeout=30"
            )
            if done["state"] != "FINALIZED":
                raise RuntimeError(f"negotiation ended {done['state']}: {done.get('reason')}")
            times.append((time.perf_counter() - started) * 1000)
    return times


async def first_offer(provider: dict, consumer: dict) -> tuple[dict, str]:
    """The first offer of the provider's catalogue as the consumer sees it, and its dataset id."""
    address = f"https://localhost:{provider['port']}/dsp/2025-1"
    async with aiohttp.ClientSession() as session:
        catalog = await api(session, consumer, "POST", "/v1/catalog/request", {"counterPartyAddress": address})
    dataset = catalog["datasets"][0]
    return {**dataset["offers"][0], "target": dataset["id"]}, dataset["id"]


async def throughput(provider: dict, consumer: dict, count: int, concurrency: int) -> tuple[float, int]:
    address = f"https://localhost:{provider['port']}/dsp/2025-1"
    offer, dataset_id = await first_offer(provider, consumer)
    semaphore = asyncio.Semaphore(concurrency)
    finalized = 0

    async def one(session: aiohttp.ClientSession) -> None:
        nonlocal finalized
        async with semaphore:
            neg = await api(
                session,
                consumer,
                "POST",
                "/v1/negotiations",
                {
                    "counterPartyAddress": address,
                    "counterPartyId": provider["pid"],
                    "offer": offer,
                    "datasetId": dataset_id,
                },
            )
            done = await api(
                session, consumer, "GET", f"/v1/negotiations/{neg['id']}?wait=FINALIZED,TERMINATED&timeout=120"
            )
            if done["state"] == "FINALIZED":
                finalized += 1

    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(one(session) for _ in range(count)))
        elapsed = time.perf_counter() - started
    return elapsed, finalized


async def transport_baseline(provider: dict, consumer: dict, runs: int) -> list[float]:
    """Round trips of a tiny request over one kept-alive mutual-TLS connection (what DSP rides on)."""
    ctx = ssl.create_default_context(cafile=str(provider["ca"]))
    ctx.load_cert_chain(consumer["tls"][0], consumer["tls"][1])
    times = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
        url = f"https://localhost:{provider['port']}/.well-known/dspace-version"
        for _ in range(runs):
            started = time.perf_counter()
            async with session.get(url) as resp:
                await resp.read()
            times.append((time.perf_counter() - started) * 1000)
    return times


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


# The README's figures before the performance work (SQLite, the machine's 2 cores).
BEFORE = {
    "certificates only": {"latency": 21.0, "per_second": 145.0, "provider": 5.0, "consumer": 5.8},
    "data space": {"latency": 24.4, "per_second": 124.0, "provider": 5.8, "consumer": 6.7},
}


def figures(
    latency_ms: float, round_trip_ms: float, median_round: dict, before: dict[str, float] | None
) -> list[Figure]:
    """The figures with their targets: catalogue to FINALIZED under 100 ms (against the round trip, its baseline),
    300 finalised a second end to end, 2.5 ms of CPU per negotiation on each side (400 a second per core)."""
    was = before or {}
    return [
        Figure("catalogue to FINALIZED, median", latency_ms, "ms", 100, "max", round_trip_ms, was.get("latency")),
        Figure("finalised per second", median_round["per_second"], "/s", 300, "min", None, was.get("per_second")),
        Figure(
            "provider CPU per negotiation", median_round["provider_ms"], "ms", 2.5, "max", None, was.get("provider")
        ),
        Figure(
            "consumer CPU per negotiation", median_round["consumer_ms"], "ms", 2.5, "max", None, was.get("consumer")
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-runs", type=int, default=200)
    parser.add_argument("--throughput", type=int, default=1000, help="negotiations per throughput round")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds (the median round is reported)")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=32,
        help="negotiations at once (the consumer's DSP requests then stay within the provider's default "
        "[limits] max_requests_per_peer, 32)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="a folder: sample both nodes with py-spy during the first throughput round and print the top entries",
    )
    parser.add_argument(
        "--data-space",
        action="store_true",
        help="the demo's data space instead of two certificate-only nodes: credentials verified on "
        "every request, two federations, the policy of the demo's open dataset",
    )
    parser.add_argument(
        "--store-url", default="", help="an empty PostgreSQL database for the provider's store (default: SQLite)"
    )
    args = parser.parse_args()
    if args.store_url and args.data_space:
        parser.error("--store-url is for the two certificate-only nodes, not --data-space")
    root = Path(tempfile.mkdtemp(prefix="bench-negotiation-"))
    atexit.register(shutil.rmtree, root, True)  # the nodes' folders go when the benchmark ends
    space = None
    if args.data_space:
        space, provider, consumer = data_space(root)
        procs = [space_process(space, "tokyo-mobility"), space_process(space, "berlin-energy")]
    else:
        authority = Authority.init(root / "authority", "Bench Federation")
        store = f'[store]\nurl = "{args.store_url}"\n' if args.store_url else ""
        provider = write_node(root, authority, "provider", SEEDS + store)
        consumer = write_node(root, authority, "consumer")
        procs = [start(provider), start(consumer)]
    try:
        asyncio.run(latency(provider, consumer, 10))  # warm up connections and caches
        lat = asyncio.run(latency(provider, consumer, args.latency_runs))
        base = asyncio.run(transport_baseline(provider, consumer, args.latency_runs))
        rounds: list[dict[str, Any]] = []
        for _ in range(args.rounds):
            cpu_before = [cpu_seconds(p) for p in procs]
            threads_before = [thread_cpu_seconds(p) for p in procs]
            load_before, machine_before = time.process_time(), machine_busy()
            with contextlib.ExitStack() as sampling:
                if args.profile is not None and not rounds:
                    args.profile.mkdir(parents=True, exist_ok=True)
                    for proc, name in zip(procs, ("provider", "consumer")):
                        sampling.enter_context(Sampler(proc.pid, args.profile / f"{name}.txt"))
                elapsed, finalized = asyncio.run(throughput(provider, consumer, args.throughput, args.concurrency))
            done = max(1, finalized)
            cpu_ms = [(cpu_seconds(p) - b) * 1000 / done for p, b in zip(procs, cpu_before)]
            split_ms = [
                [(now - then) * 1000 / done for now, then in zip(thread_cpu_seconds(p), b)]
                for p, b in zip(procs, threads_before)
            ]
            load_ms = (time.process_time() - load_before) * 1000 / done
            busy, total = (after - before for after, before in zip(machine_busy(), machine_before))
            rounds.append(
                {
                    "seconds": elapsed,
                    "finalized": finalized,
                    "per_second": finalized / elapsed,
                    "provider_ms": cpu_ms[0],
                    "consumer_ms": cpu_ms[1],
                    "split_ms": split_ms,
                    "load_ms": load_ms,
                    "busy_pct": 100 * busy / total if total else float("nan"),
                }
            )
        rss = [peak_rss_mib(p) for p in procs]
    finally:
        if space is not None:
            space.stop()
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=30)
    median_round = sorted(rounds, key=lambda r: r["per_second"])[len(rounds) // 2]
    per_second = [r["per_second"] for r in rounds]
    latency_median = statistics.median(lat)
    result = {
        "setup": (
            "the demo's data space: Berlin (EU federation) negotiates Tokyo's open dataset (JP federation), "
            "credentials verified on every request"
            if args.data_space
            else "two nodes, certificates only (no trust lists, no credentials), a policy without constraints"
        ),
        "provider_store": "PostgreSQL" if args.store_url else "SQLite",
        "catalogue_to_finalized_ms": {
            "median": round(latency_median, 2),
            "p95": round(pct(lat, 95), 2),
            "runs": len(lat),
        },
        "baseline_mtls_round_trip_ms": {"median": round(statistics.median(base), 3), "p95": round(pct(base, 95), 3)},
        "ratio_negotiation_to_round_trip": round(latency_median / statistics.median(base), 1),
        "throughput": {
            "negotiations_per_round": args.throughput,
            "rounds": args.rounds,
            "concurrency": args.concurrency,
            "finalized": sum(r["finalized"] for r in rounds),
            "finalized_per_second": round(median_round["per_second"], 1),
            "finalized_per_second_range": [round(min(per_second), 1), round(max(per_second), 1)],
            "cpu_ms_per_negotiation": {
                "provider": round(median_round["provider_ms"], 2),
                "consumer": round(median_round["consumer_ms"], 2),
                "load_generator": round(median_round["load_ms"], 2),
            },
            "cpu_ms_per_negotiation_by_thread": {
                side: {"event_loop": round(split[0], 2), "store_and_other_threads": round(split[1], 2)}
                for side, split in zip(("provider", "consumer"), median_round["split_ms"])
            },
            "capacity_per_core": {
                "provider": round(1000 / median_round["provider_ms"], 1),
                "consumer": round(1000 / median_round["consumer_ms"], 1),
            },
            "machine_cpu_busy_pct": round(median_round["busy_pct"], 1),
        },
        "targets": {
            "median_under_100_ms": latency_median < 100,
            "at_least_300_finalized_per_second": median_round["per_second"] >= 300,
            "provider_capacity_per_core_at_least_300": 1000 / median_round["provider_ms"] >= 300,
        },
        "peak_rss_mib": {"provider": round(rss[0], 1), "consumer": round(rss[1], 1)},
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    report(
        f"negotiation ({'data space' if args.data_space else 'certificates only'}, {result['provider_store']})",
        figures(
            latency_median,
            statistics.median(base),
            median_round,
            None if args.store_url else BEFORE["data space" if args.data_space else "certificates only"],
        ),
    )
    if args.profile is not None:
        for name in ("provider", "consumer"):
            print(summary(args.profile / f"{name}.txt", name))


if __name__ == "__main__":
    main()
