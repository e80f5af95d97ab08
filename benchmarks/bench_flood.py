"""A flood of oversized, undeclared and slow bodies against a provider node, while another peer keeps asking for
the catalogue and the operator for health.

The provider runs as its own process (`connector serve`, default limits), with certificates from the project's
own PKI. Attackers hold valid certificates of the federation (any member can be hostile) and send, in parallel:
POSTs declaring 5 MiB to the catalogue endpoint, POSTs streaming 5 MiB without declaring it, and bodies that
trickle a byte a second. Figures: the node's RSS before, its peak during the flood (sampled from /proc) and
after; how many legitimate catalogue and health requests were answered, and their latency, during the flood
against the same requests on the idle node (the baseline, in the same run). The goal stated for the node: under
150 MiB during the flood, every legitimate request answered.

    python benchmarks/bench_flood.py [--seconds 20] [--attackers 20] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from connector.free_port import free_port
from connector.pki.authority import Authority

API_KEY = "bench-flood-api-key-0123456789"
MIB = 1024 * 1024
CATALOG_REQUEST = {"@context": ["https://w3id.org/dspace/2025/1/context.jsonld"], "@type": "CatalogRequestMessage"}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Member:
    def __init__(self, authority: Authority, root: Path, name: str) -> None:
        self.port, self.mport = free_port(), free_port()
        self.pid = f"did:web:localhost%3A{self.port}:{name}"
        self.dir = root / name
        authority.issue_participant(self.pid, ["localhost", "127.0.0.1"], self.dir, organisation=name.title())
        self.authority = authority

    def ssl(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.authority.ca_cert_path))
        ctx.load_cert_chain(self.dir / "tls.cert.pem", self.dir / "tls.key.pem")
        return ctx

    def config(self, root: Path) -> Path:
        path = root / f"{self.dir.name}.toml"
        path.write_text(f"""
[node]
participant_id = "{self.pid}"
data_dir = "{root / "var"}"
[identity]
tls_cert = "{self.dir / "tls.cert.pem"}"
tls_key = "{self.dir / "tls.key.pem"}"
signing_key = "{self.dir / "signing.key.pem"}"
signing_cert = "{self.dir / "signing.cert.pem"}"
[protocol]
listen = "127.0.0.1:{self.port}"
[management]
listen = "127.0.0.1:{self.mport}"
api_key = "{API_KEY}"
[trust]
ca = ["{self.authority.ca_cert_path}"]
crl = ["{self.authority.crl_path}"]
[log]
level = "error"
[[assets]]
id = "weather"
source = {{type = "http", url = "http://127.0.0.1:9/weather"}}
[[policies]]
id = "use"
policy = {{permission = [{{action = "use"}}]}}
[[offers]]
id = "weather-offer"
asset = "weather"
contract_policy = "use"
""")
        return path


async def wait_ready(m: Member, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError("the node exited")
            try:
                async with session.get(f"http://127.0.0.1:{m.mport}/check/readiness") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the node did not start")


async def legit(provider: Member, peer: Member, until: float) -> dict[str, Any]:
    """Catalogue requests of an honest peer, and health probes, one after another until `until`."""
    url = f"https://localhost:{provider.port}/dsp/2025-1/catalog/request"
    catalog_ms: list[float] = []
    health_ms: list[float] = []
    failed = 0
    conn = aiohttp.TCPConnector(ssl=peer.ssl())
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=10)) as session:
        while time.monotonic() < until:
            for target, bucket in ((url, catalog_ms), (f"http://127.0.0.1:{provider.mport}/check/health", health_ms)):
                started = time.perf_counter()
                try:
                    if bucket is catalog_ms:
                        async with session.post(target, json=CATALOG_REQUEST) as r:
                            ok = r.status == 200 and bool((await r.json())["dataset"])
                    else:
                        async with session.get(target, ssl=False) as r:
                            ok = r.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    ok = False
                if ok:
                    bucket.append((time.perf_counter() - started) * 1000)
                else:
                    failed += 1
            await asyncio.sleep(0.05)
    return {
        "catalogue_answered": len(catalog_ms),
        "health_answered": len(health_ms),
        "failed": failed,
        "catalogue_median_ms": round(statistics.median(catalog_ms), 2) if catalog_ms else None,
        "health_median_ms": round(statistics.median(health_ms), 2) if health_ms else None,
    }


async def attacker(provider: Member, me: Member, kind: str, until: float) -> int:
    """One hostile member's loop; returns how many attempts it made."""
    attempts = 0
    path = "/dsp/2025-1/catalog/request"
    while time.monotonic() < until:
        attempts += 1
        try:
            reader, writer = await asyncio.open_connection(
                "localhost", provider.port, ssl=me.ssl(), server_hostname="localhost"
            )
        except (OSError, ssl.SSLError):
            await asyncio.sleep(0.05)
            continue
        try:
            if kind == "declared":
                head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {5 * MIB}\r\n\r\n"
                writer.write(head.encode())
                for _ in range(80):  # keeps sending whatever the answer
                    writer.write(b"x" * 65536)
                    await writer.drain()
            elif kind == "undeclared":
                writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
                for _ in range(80):
                    writer.write(b"10000\r\n" + b"x" * 65536 + b"\r\n")
                    await writer.drain()
            else:  # slow: a byte a second
                writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n".encode())
                while time.monotonic() < until:
                    writer.write(b"x")
                    await writer.drain()
                    await asyncio.sleep(1)
            await asyncio.wait_for(reader.read(), 5)
        except (OSError, ssl.SSLError, TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
    return attempts


async def run(seconds: float, attackers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        authority = Authority.init(root / "authority", "Flood Federation")
        provider = Member(authority, root, "provider")
        peer = Member(authority, root, "peer")
        hostile = [Member(authority, root, f"hostile-{i}") for i in range(max(1, attackers // 3))]
        proc = subprocess.Popen(
            [sys.executable, "-m", "connector", "serve", "--config", str(provider.config(root))],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            await wait_ready(provider, proc)
            baseline = await legit(provider, peer, time.monotonic() + min(3.0, seconds / 4))
            before = rss_mib(proc.pid)
            peak = before
            until = time.monotonic() + seconds
            kinds = ["declared", "undeclared", "slow"]
            tasks = [
                asyncio.ensure_future(attacker(provider, hostile[i % len(hostile)], kinds[i % 3], until))
                for i in range(attackers)
            ]
            during = asyncio.ensure_future(legit(provider, peer, until))
            while not during.done():
                peak = max(peak, rss_mib(proc.pid))
                await asyncio.sleep(0.2)
            attempts = sum(await asyncio.gather(*tasks))
            await asyncio.sleep(2)
            after = rss_mib(proc.pid)
            return {
                "seconds": seconds,
                "attackers": attackers,
                "attack_attempts": attempts,
                "rss_before_mib": round(before, 1),
                "rss_peak_mib": round(peak, 1),
                "rss_after_mib": round(after, 1),
                "rss_goal_mib": 150,
                "baseline": baseline,
                "during_flood": during.result(),
                "node_alive": proc.poll() is None,
            }
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--attackers", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run(args.seconds, args.attackers))
    if args.json:
        print(json.dumps(result))
    else:
        print(json.dumps(result, indent=2))
        met = result["rss_peak_mib"] < 150 and result["during_flood"]["failed"] == 0
        print(f"goal (peak under 150 MiB, every legitimate request answered): {'met' if met else 'MISSED'}")
    return 0 if os.environ.get("BENCH_STRICT") != "1" or result["rss_peak_mib"] < 150 else 1


if __name__ == "__main__":
    raise SystemExit(main())
