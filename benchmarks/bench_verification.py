"""What verifying a peer's credentials costs per DSP request. A plain script: prints figures, asserts nothing
about time.

    python benchmarks/bench_verification.py [--requests 200] [--cold 60]

Sets up, on loopback in one process, a federation authority with its publication service (status lists) and two
credentialed nodes that recognise it. The consumer node sends DSP catalogue requests to the provider node through
its real peer client (mutual TLS, a fresh ID token each time). Measured on the provider, per request:

- cold cache: DID document, presentation (the consumer's credential service) and status list all fetched (the
  provider's caches and the consumer's cache of the provider's DID document are emptied before each request);
- warm cache: the verified presentation is reused and the status list is fresh, only the token is checked in
  full (and its jti recorded in the store);
- certificate only: the authenticator a node runs without trust lists, in the same run, as the baseline.

For each: median and 90th percentile of the time spent in the authenticator and of the whole request as the
consumer sees it, the ratio to the certificate-only median, and the process's peak RSS; then one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from connector.authority.service import AuthorityService
from connector.config import Listen, load_config
from connector.dsp.catalog_messages import CatalogRequestMessage
from connector.node.wiring import RunningNode, running
from connector.pki.authority import Authority
from connector.pki.credentials import issue_participant_credential
from connector.pki.trust_list import issue_trust_list
from connector.protocol.auth import CertificateAuthenticator
from connector.trust.claims import VerifiedClaims

MODES = ("cold", "warm", "certificate_only")


def peak_rss_mib() -> float:
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss is KiB on Linux, bytes on macOS
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / (1024 * 1024)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Timed:
    """An authenticator wrapper recording the time each authentication takes."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.samples: list[float] = []

    async def authenticate(self, request: web.Request) -> VerifiedClaims:
        started = time.perf_counter()
        try:
            return await self.inner.authenticate(request)
        finally:
            self.samples.append((time.perf_counter() - started) * 1000)


class _Own:
    """The DCP verifier's own `authenticate`, while the node's is replaced by a timed one."""

    def __init__(self, authenticate: Any) -> None:
        self.authenticate = authenticate


def participant(authority: Authority, root: Path, name: str) -> tuple[str, Path, int, int]:
    port, mport = free_port(), free_port()
    pid = f"did:web:localhost%3A{port}:{name}"
    out = root / name
    authority.issue_participant(pid, ["localhost", "127.0.0.1"], out, "DE", name.title())
    issue_participant_credential(authority, pid, "membership", out=out)
    issue_participant_credential(authority, pid, "organization", country="DE", name=f"{name.title()} Ltd", out=out)
    config = root / f"{name}.toml"
    config.write_text(f"""[node]
participant_id = "{pid}"
data_dir = "{root / ("var-" + name)}"
[identity]
tls_cert = "{out / "tls.cert.pem"}"
tls_key = "{out / "tls.key.pem"}"
signing_key = "{out / "signing.key.pem"}"
signing_cert = "{out / "signing.cert.pem"}"
credentials = ["{out / "membership.credential.jwt"}", "{out / "organization.credential.jwt"}"]
[protocol]
listen = "127.0.0.1:{port}"
[management]
listen = "127.0.0.1:{mport}"
api_key = "bench-api-key-0123456789"
[trust]
ca = ["{authority.ca_cert_path}"]
crl = ["{authority.crl_path}"]
status_max_age = 300
presentation_reuse = 300
[[trust.lists]]
file = "{authority.trust_list_path}"
anchor = "{authority.ca_cert_path}"
[log]
level = "error"
""")
    return pid, config, port, mport


async def start(stack: contextlib.AsyncExitStack, config: Path) -> RunningNode:
    return await stack.enter_async_context(running(load_config(config, environ={})))


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered), 3),
        "p90_ms": round(ordered[int(len(ordered) * 0.9) - 1], 3),
        "n": len(ordered),
    }


async def run(requests: int, cold: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        service_port = free_port()
        authority = Authority.init(
            root / "authority", "Bench Federation", public_url=f"https://localhost:{service_port}"
        )
        issue_trust_list(authority)
        service = AuthorityService(authority.dir, status_validity=timedelta(minutes=10))
        await service.start(Listen("127.0.0.1", service_port))
        provider_id, provider_config, provider_port, _ = participant(authority, root, "provider")
        _, consumer_config, _, _ = participant(authority, root, "consumer")
        stack = contextlib.AsyncExitStack()
        provider, consumer = await start(stack, provider_config), await start(stack, consumer_config)
        try:
            provider_edge, consumer_edge = provider.trust, consumer.trust
            dcp = provider.authenticator
            own_authenticate = dcp.authenticate
            url = f"https://localhost:{provider_port}/dsp/2025-1/catalog/request"
            body = CatalogRequestMessage().to_json()
            peers = consumer.control.engine.peers

            cert_only = CertificateAuthenticator()
            samples: dict[str, tuple[list[float], list[float]]] = {m: ([], []) for m in MODES}

            async def one(mode: str) -> None:
                """One catalogue request verified the `mode` way; appends (authenticate, request) times."""
                if mode == "cold":
                    provider_edge.forget_caches()
                    consumer_edge.forget_caches()
                timed = Timed(cert_only if mode == "certificate_only" else _Own(own_authenticate))
                dcp.authenticate = timed.authenticate  # type: ignore[method-assign] # the protocol listener's seam
                try:
                    started = time.perf_counter()
                    response = await peers.post(url, body, expected_peer=provider_id)
                    elapsed = (time.perf_counter() - started) * 1000
                finally:
                    dcp.authenticate = own_authenticate  # type: ignore[method-assign]
                assert response.status == 200, response.text
                samples[mode][0].extend(timed.samples)
                samples[mode][1].append(elapsed)

            for _ in range(20):  # warm up connections, caches and code paths
                await one("warm")
            samples["warm"] = ([], [])
            rss_start = peak_rss_mib()
            # Interleaved, so that whatever else the machine does weighs on every mode alike.
            for i in range(requests):
                if i < cold:
                    await one("cold")
                fetched = provider_edge.fetcher.fetches
                await one("warm")
                assert provider_edge.fetcher.fetches == fetched, "a warm request fetched something"
                await one("certificate_only")
            (cold_auth, cold_wall), (warm_auth, warm_wall), (cert_auth, cert_wall) = (samples[m] for m in MODES)
            refused = await provider.store.read(
                lambda db: db.execute("SELECT COUNT(*) FROM verifications WHERE outcome = 'refused'").fetchone()[0]
            )
            assert refused == 0, "a benchmark request was refused"
        finally:
            await stack.aclose()
            await service.stop()
    base = statistics.median(cert_auth)
    base_wall = statistics.median(cert_wall)
    result: dict[str, Any] = {}
    for name, auth, wall in (
        ("cold", cold_auth, cold_wall),
        ("warm", warm_auth, warm_wall),
        ("certificate_only", cert_auth, cert_wall),
    ):
        result[name] = {
            "authenticate": summary(auth),
            "request": summary(wall),
            "ratio_to_certificate_only": round(statistics.median(auth) / base, 1),
            "request_ratio": round(statistics.median(wall) / base_wall, 2),
        }
    result["peak_rss_mib"] = {"after_setup": round(rss_start, 1), "end": round(peak_rss_mib(), 1)}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200, help="warm and certificate-only requests")
    parser.add_argument("--cold", type=int, default=60, help="cold-cache requests")
    args = parser.parse_args()
    result = asyncio.run(run(args.requests, args.cold))
    print(
        f"{'per DSP request':18} {'authenticate median':>20} {'p90':>9}   {'whole request median':>21} "
        f"{'p90':>9} {'vs cert-only':>13}"
    )
    for name in ("cold", "warm", "certificate_only"):
        r = result[name]
        a, w = r["authenticate"], r["request"]
        print(
            f"{name.replace('_', ' '):18} {a['median_ms']:17.3f} ms {a['p90_ms']:6.2f} ms   "
            f"{w['median_ms']:18.3f} ms {w['p90_ms']:6.2f} ms {r['request_ratio']:12.2f}x"
        )
    print(f"peak RSS: {result['peak_rss_mib']['end']} MiB (after setup {result['peak_rss_mib']['after_setup']} MiB)")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
