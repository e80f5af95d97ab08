"""Pull 1 GiB between two local nodes over mutual TLS, against bare aiohttp clients and a server of the same size.

    python benchmarks/bench_transfer.py [--size-mib 1024] [--rounds 5] [--dir FOLDER] [--keep] [--no-pin]

Everything runs as separate processes, so that each peak RSS is that process's own: the provider and consumer
nodes (``connector serve``), the puller (``connector transfer``, which pulls with the consumer's identity, hashes,
and writes the file atomically), and for the baselines a bare aiohttp server (``StreamResponse``, 256 KiB writes
from memory), a bare aiohttp client (``iter_chunked(256 KiB)``, nothing kept) and a bare aiohttp client doing the
puller's work in the plainest way (each chunk hashed with SHA-256 and written to a file). The serving side (the
provider node, the bare server) is pinned to one core and the receiving side (the consumer node, the puller, the
bare clients) to another, so that each figure measures one side's work, not who else is busy. Rounds alternate
between the series so that noise from the machine hits them alike; medians are reported (and the best, for
reference).

Five series: the bare stream; the same bare server reading the file it sends with ``os.pread`` (the work the
node does that a stream from memory does not: the honest limit of serving a file); the bare client hashing and
writing, from the bare server; the provider node serving
the plain bare client (a transfer and a token, nothing written, nothing hashed: the node's own cost next to the
bare server's); and ``connector transfer``, whose rate is the data phase as the puller measures it (response
headers to the last byte hashed and written). "End to end" adds the process start, the transfer request, the
token, the seal (computed once per version of the file: the first round pays for it), the atomic publication and
the completion.

Rates in MB/s are bytes over wall time, which other processes on the same core still move. "Per core" rates are
bytes over the CPU each side spent on them (the server processes' CPU from /proc around the stream, the clients'
own CPU over the data phase, every thread): what a core given to that side alone would do, almost untouched by
noise. Peak RSS is VmHWM from /proc for the nodes and the bare server, and ru_maxrss of the clients.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reporting import Figure, report

MIB = 1024 * 1024
CHUNK = 256 * 1024
API_KEY = "bench-api-key-0123456789abcdef"
SERVING_TARGET, TRANSFER_TARGET, RSS_TARGET_MIB = 0.95, 0.9, 100.0
# Before the performance work (README): serving 1.00 and `connector transfer` 0.66 of the bare stream, unpinned.
SERVING_BEFORE, TRANSFER_BEFORE = 1.00, 0.66

BARE_SERVER = textwrap.dedent("""
    import asyncio, os, ssl, sys
    from aiohttp import web
    size, cert, key, ca, port = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
    path = sys.argv[6]
    block = os.urandom(256 * 1024)

    async def stream(request):
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = size
        await response.prepare(request)
        left = size
        while left:
            piece = block if left >= len(block) else block[:left]
            await response.write(piece)
            left -= len(piece)
        await response.write_eof()
        return response

    async def from_file(request):
        # The plainest server of a file: a fresh buffer from os.pread for each 256 KiB, on the event loop.
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = size
        await response.prepare(request)
        fd = os.open(path, os.O_RDONLY)
        try:
            offset = 0
            while offset < size:
                piece = os.pread(fd, 256 * 1024, offset)
                await response.write(piece)
                offset += len(piece)
        finally:
            os.close(fd)
        await response.write_eof()
        return response

    async def main():
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        ctx.load_verify_locations(ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
        app = web.Application()
        app.router.add_get("/data", stream)
        app.router.add_get("/file", from_file)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ctx).start()
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
""")

BARE_CLIENT = textwrap.dedent("""
    import asyncio, json, resource, ssl, sys, time
    import aiohttp
    url, cert, key, ca, token = sys.argv[1:6]

    async def main():
        ctx = ssl.create_default_context(cafile=ca)
        ctx.load_cert_chain(cert, key)
        got = 0
        headers = {"Authorization": "Bearer " + token} if token else {}
        async with aiohttp.ClientSession() as session:
            async with session.get(url, ssl=ctx, headers=headers) as response:
                assert response.status == 200, response.status
                began, began_cpu = time.monotonic(), time.process_time()
                async for chunk in response.content.iter_chunked(256 * 1024):
                    got += len(chunk)
                seconds, cpu = time.monotonic() - began, time.process_time() - began_cpu
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"bytes": got, "seconds": seconds, "cpu": cpu, "rssMiB": rss}))

    asyncio.run(main())
""")

# The honest limit of what the puller does: the same receive over mutual TLS, each chunk hashed (SHA-256) and
# written to a file, in the plainest way (one loop, the page cache); timed like the puller's data phase.
BARE_WORKER = textwrap.dedent("""
    import asyncio, hashlib, json, resource, ssl, sys, time
    import aiohttp
    url, cert, key, ca, token, out = sys.argv[1:7]

    async def main():
        ctx = ssl.create_default_context(cafile=ca)
        ctx.load_cert_chain(cert, key)
        got = 0
        digest = hashlib.sha256()
        headers = {"Authorization": "Bearer " + token} if token else {}
        with open(out, "wb") as f:
            async with aiohttp.ClientSession() as session:
                async with session.get(url, ssl=ctx, headers=headers) as response:
                    assert response.status == 200, response.status
                    began, began_cpu = time.monotonic(), time.process_time()
                    async for chunk in response.content.iter_chunked(256 * 1024):
                        digest.update(chunk)
                        f.write(chunk)
                        got += len(chunk)
                    seconds, cpu = time.monotonic() - began, time.process_time() - began_cpu
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"bytes": got, "seconds": seconds, "cpu": cpu, "rssMiB": rss}))

    asyncio.run(main())
""")


def pin_to(cpu: int | None) -> Any:
    """A preexec function that keeps a child (and every thread it starts) on one core, or None."""
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User and system CPU a running process has used so far, every thread."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    """VmHWM: the peak resident set of a running process."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_child(cmd: list[str], cpu: int | None) -> tuple[str, float]:
    """Run a command to its end (on core `cpu`); returns its stdout and its own peak RSS in MiB."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=pin_to(cpu))
    out = proc.stdout.read()  # type: ignore[union-attr]
    err = proc.stderr.read()  # type: ignore[union-attr]
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed ({proc.returncode}): {err.decode()[-2000:]}")
    return out.decode(), usage.ru_maxrss / 1024


def make_file(path: Path, size: int) -> None:
    block = os.urandom(CHUNK)
    with open(path, "wb") as f:
        for _ in range(size // CHUNK):
            f.write(block)
        f.write(block[: size % CHUNK])


def write_config(
    folder: Path, name: str, pid: str, port: int, mport: int, data_root: Path, ca: Path, crl: Path, extra: str = ""
) -> Path:
    d = folder / name
    path = folder / f"{name}.toml"
    path.write_text(
        textwrap.dedent(f'''
        [node]
        participant_id = "{pid}"
        data_dir = "{folder / ("var-" + name)}"
        [identity]
        tls_cert = "{d / "tls.cert.pem"}"
        tls_key = "{d / "tls.key.pem"}"
        signing_key = "{d / "signing.key.pem"}"
        signing_cert = "{d / "signing.cert.pem"}"
        [protocol]
        listen = "127.0.0.1:{port}"
        [management]
        listen = "127.0.0.1:{mport}"
        api_key = "{API_KEY}"
        [trust]
        ca = ["{ca}"]
        crl = ["{crl}"]
        require_credentials = false
        [log]
        level = "warning"
        [data]
        root = "{data_root}"
    ''')
        + extra
    )
    return path


def call(mport: int, method: str, path: str, body: Any = None) -> Any:
    req = urllib.request.Request(
        f"http://127.0.0.1:{mport}{path}",
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"X-Api-Key": API_KEY, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=120) as resp:
        text = resp.read()
    return json.loads(text) if text else None


def wait_ready(mport: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{mport}/check/readiness", timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise SystemExit(f"node did not start: {log.read_text()[-2000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--no-pin", action="store_true", help="let the system place the processes on any core")
    args = parser.parse_args()
    size = args.size_mib * MIB
    cores = sorted(os.sched_getaffinity(0))
    # The serving side on one core, the receiving side on another: the figures then measure each side's own
    # work, not who else happens to be busy on the machine.
    serving_cpu, receiving_cpu = (None, None) if args.no_pin or len(cores) < 2 else (cores[0], cores[1])
    work = Path(tempfile.mkdtemp(prefix="bench-transfer-", dir=args.dir))
    children: list[subprocess.Popen[bytes]] = []
    try:
        from connector.pki.authority import Authority

        authority = Authority.init(work / "authority", "Bench Federation")
        ports = {n: (free_port(), free_port()) for n in ("provider", "consumer")}
        pids = {n: f"did:web:localhost%3A{ports[n][0]}:{n}" for n in ports}
        for name, pid in pids.items():
            authority.issue_participant(pid, ["localhost", "127.0.0.1"], work / name, organisation=name.title())
        root = work / "provider-data"
        root.mkdir()
        make_file(root / "big.bin", size)
        configs = {
            n: write_config(
                work,
                n,
                pids[n],
                ports[n][0],
                ports[n][1],
                root if n == "provider" else work,
                authority.ca_cert_path,
                authority.crl_path,
            )
            for n in ports
        }
        nodes = {}
        for name, config in configs.items():
            log = work / f"{name}.log"
            proc = subprocess.Popen(
                [sys.executable, "-m", "connector", "serve", "--config", str(config)],
                stdout=open(log, "ab"),
                stderr=subprocess.STDOUT,
                preexec_fn=pin_to(serving_cpu if name == "provider" else receiving_cpu),
            )
            children.append(proc)
            nodes[name] = proc
            wait_ready(ports[name][1], proc, log)
        pm, cm = ports["provider"][1], ports["consumer"][1]
        call(pm, "POST", "/v1/assets", {"id": "big", "source": {"type": "file", "path": "big.bin"}})
        call(pm, "POST", "/v1/policies", {"id": "use", "policy": {"permission": [{"action": "use"}]}})
        call(pm, "POST", "/v1/offers", {"id": "big-offer", "assetId": "big", "contractPolicyId": "use"})
        neg = call(
            cm,
            "POST",
            "/v1/negotiations",
            {
                "counterPartyAddress": f"https://localhost:{ports['provider'][0]}/dsp/2025-1",
                "counterPartyId": pids["provider"],
                "offerId": "big-offer",
                "datasetId": "big",
            },
        )
        neg = call(cm, "GET", f"/v1/negotiations/{neg['id']}?wait=FINALIZED,TERMINATED&timeout=30")
        if neg["state"] != "FINALIZED":
            raise SystemExit(f"negotiation failed: {neg.get('reason')}")
        agreement = neg["agreementId"]

        # The bare baseline: same machine, same TLS identities, no node.
        bport = free_port()
        prov = work / "provider"
        bare = subprocess.Popen(
            [
                sys.executable,
                "-c",
                BARE_SERVER,
                str(size),
                str(prov / "tls.cert.pem"),
                str(prov / "tls.key.pem"),
                str(authority.ca_cert_path),
                str(bport),
                str(root / "big.bin"),
            ],
            stdout=subprocess.PIPE,
            preexec_fn=pin_to(serving_cpu),
        )
        children.append(bare)
        assert bare.stdout is not None and bare.stdout.readline().strip() == b"ready"
        cons = work / "consumer"

        results: dict[str, list[dict[str, float]]] = {"node": [], "bare": [], "work": [], "serve": [], "file": []}
        out = work / "copy.bin"
        bare_out = work / "bare-copy.bin"
        client_args = [str(cons / "tls.cert.pem"), str(cons / "tls.key.pem"), str(authority.ca_cert_path)]

        def streamed(server_pid: int, url: str, token: str) -> tuple[dict[str, float], float, float]:
            """The bare client's stream from `url`: its report, its peak RSS and the server's CPU seconds."""
            before = cpu_seconds(server_pid)
            text, rss = run_child([sys.executable, "-c", BARE_CLIENT, url, *client_args, token], receiving_cpu)
            server_cpu = cpu_seconds(server_pid) - before
            run = json.loads(text)
            assert run["bytes"] == size, run
            return run, rss, server_cpu

        for round_no in range(args.rounds):
            bare_run, rss, server_cpu = streamed(bare.pid, f"https://localhost:{bport}/data", "")
            results["bare"].append(
                {
                    "mbps": size / bare_run["seconds"] / 1e6,
                    "rss": rss,
                    "core": size / bare_run["cpu"] / 1e6,
                    "serverCore": size / server_cpu / 1e6,
                }
            )
            file_run, _, server_cpu = streamed(bare.pid, f"https://localhost:{bport}/file", "")
            results["file"].append({"mbps": size / file_run["seconds"] / 1e6, "serverCore": size / server_cpu / 1e6})
            bare_out.unlink(missing_ok=True)
            text, rss = run_child(
                [
                    sys.executable,
                    "-c",
                    BARE_WORKER,
                    f"https://localhost:{bport}/data",
                    *client_args,
                    "",
                    str(bare_out),
                ],
                receiving_cpu,
            )
            work_run = json.loads(text)
            assert work_run["bytes"] == size, work_run
            results["work"].append(
                {"mbps": size / work_run["seconds"] / 1e6, "rss": rss, "core": size / work_run["cpu"] / 1e6}
            )
            bare_out.unlink()
            # The provider node serving the same bare client (a transfer and a token, no file, no seal).
            tp = call(cm, "POST", "/v1/transfers", {"agreementId": agreement})
            call(cm, "GET", f"/v1/transfers/{tp['id']}?wait=STARTED&timeout=30")
            access = call(cm, "POST", f"/v1/transfers/{tp['id']}/token")
            serve_run, rss, node_cpu = streamed(nodes["provider"].pid, access["endpoint"], access["authorization"])
            results["serve"].append(
                {"mbps": size / serve_run["seconds"] / 1e6, "rss": rss, "serverCore": size / node_cpu / 1e6}
            )
            call(cm, "POST", f"/v1/transfers/{tp['id']}/terminate", {"reason": "benchmark"})
            out.unlink(missing_ok=True)
            started = time.monotonic()
            text, rss = run_child(
                [
                    sys.executable,
                    "-m",
                    "connector",
                    "transfer",
                    agreement,
                    "--out",
                    str(out),
                    "--config",
                    str(configs["consumer"]),
                    "--json",
                    "--quiet",
                ],
                receiving_cpu,
            )
            wall = time.monotonic() - started
            node_run = json.loads(text)
            assert node_run["size"] == size and node_run["completed"], node_run
            results["node"].append(
                {
                    "mbps": node_run["received"] / node_run["streamSeconds"] / 1e6,
                    "rss": rss,
                    "e2e": size / wall / 1e6,
                    "core": node_run["received"] / node_run["streamCpuSeconds"] / 1e6,
                }
            )
            print(
                f"round {round_no + 1}: bare {results['bare'][-1]['mbps']:6.0f} MB/s   bare hashing and writing "
                f"{results['work'][-1]['mbps']:6.0f} MB/s   node serving "
                f"{results['serve'][-1]['mbps']:6.0f} MB/s   connector transfer {results['node'][-1]['mbps']:6.0f} "
                f"MB/s (end to end {results['node'][-1]['e2e']:.0f} MB/s)",
                file=sys.stderr,
            )

        peaks = {
            "provider": peak_rss_mib(nodes["provider"].pid),
            "consumer": peak_rss_mib(nodes["consumer"].pid),
            "bare server": peak_rss_mib(bare.pid),
        }
        node_mbps = statistics.median(r["mbps"] for r in results["node"])
        bare_mbps = statistics.median(r["mbps"] for r in results["bare"])
        serve_mbps = statistics.median(r["mbps"] for r in results["serve"])
        work_mbps = statistics.median(r["mbps"] for r in results["work"])
        # Per core: bytes over the CPU each side spent on them, whatever else ran on its core meanwhile.
        core = {
            "bareServer": statistics.median(r["serverCore"] for r in results["bare"]),
            "bareFileServer": statistics.median(r["serverCore"] for r in results["file"]),
            "providerNode": statistics.median(r["serverCore"] for r in results["serve"]),
            "bareClient": statistics.median(r["core"] for r in results["bare"]),
            "bareWorker": statistics.median(r["core"] for r in results["work"]),
            "puller": statistics.median(r["core"] for r in results["node"]),
        }
        # Ratios round by round (each side against its baseline a moment apart), then their median.
        rounds = list(zip(results["bare"], results["work"], results["serve"], results["node"]))
        serving_cpu_ratio = statistics.median(s["serverCore"] / b["serverCore"] for b, _, s, _ in rounds)
        serving_file_ratio = statistics.median(
            s["serverCore"] / f["serverCore"] for s, f in zip(results["serve"], results["file"])
        )
        transfer_cpu_ratio = statistics.median(n["core"] / w["core"] for _, w, _, n in rounds)
        summary = {
            "sizeBytes": size,
            "rounds": args.rounds,
            "nodeMBps": round(node_mbps),
            "bareMBps": round(bare_mbps),
            "bareWorkMBps": round(work_mbps),
            "ratio": round(node_mbps / work_mbps, 3),
            "ratioToStream": round(node_mbps / bare_mbps, 3),
            "pinned": serving_cpu is not None,
            "perCoreMBps": {k: round(v) for k, v in core.items()},
            "servingCpuRatio": round(serving_cpu_ratio, 3),
            "servingFileCpuRatio": round(serving_file_ratio, 3),
            "transferCpuRatio": round(transfer_cpu_ratio, 3),
            "nodeServingMBps": round(serve_mbps),
            "servingRatio": round(serve_mbps / bare_mbps, 3),
            "nodeBestMBps": round(max(r["mbps"] for r in results["node"])),
            "bareBestMBps": round(max(r["mbps"] for r in results["bare"])),
            "nodeEndToEndMBps": round(statistics.median(r["e2e"] for r in results["node"])),
            "peakRssMiB": {
                "providerNode": round(peaks["provider"], 1),
                "consumerNode": round(peaks["consumer"], 1),
                "puller": round(max(r["rss"] for r in results["node"]), 1),
                "bareServer": round(peaks["bare server"], 1),
                "bareClient": round(max(r["rss"] for r in results["bare"]), 1),
                "bareWorker": round(max(r["rss"] for r in results["work"]), 1),
            },
        }
        placed = (
            f"serving side on core {serving_cpu}, receiving side on core {receiving_cpu}"
            if serving_cpu is not None
            else "not pinned"
        )
        print(f"\n{size / MIB:.0f} MiB over mutual TLS, median of {args.rounds} rounds (MB = 10^6 bytes; {placed})")
        print(f"  bare aiohttp stream                       {bare_mbps:8.0f} MB/s")
        print(
            f"  provider node serving the bare client     {serve_mbps:8.0f} MB/s   ratio {summary['servingRatio']:.2f}"
            "   (to the bare stream; target >= 0.95)"
        )
        print(f"  bare client hashing and writing the file  {work_mbps:8.0f} MB/s")
        print(
            f"  connector transfer (hashes, writes file)  {node_mbps:8.0f} MB/s   ratio {summary['ratio']:.2f}"
            f"   (to the bare client doing the same work; target >= 0.9; to the bare stream "
            f"{summary['ratioToStream']:.2f}; end to end {summary['nodeEndToEndMBps']} MB/s)"
        )
        print("  peak RSS (MiB): " + ", ".join(f"{k} {v}" for k, v in summary["peakRssMiB"].items()))
        print(
            "  per core (bytes over each side's own CPU, MB/s): "
            + ", ".join(f"{k} {v:.0f}" for k, v in core.items())
            + f"; serving {summary['servingCpuRatio']:.2f} of the bare server ("
            f"{summary['servingFileCpuRatio']:.2f} of the bare server reading the same file), connector transfer "
            f"{summary['transferCpuRatio']:.2f} of the bare client doing the same work"
        )
        print(json.dumps(summary))
        rss = summary["peakRssMiB"]
        report(
            "transfer",
            [
                Figure(
                    "serving path / bare stream", serve_mbps / bare_mbps, "", SERVING_TARGET, "min", 1.0, SERVING_BEFORE
                ),
                Figure(
                    "connector transfer / bare client hashing and writing",
                    node_mbps / work_mbps,
                    "",
                    TRANSFER_TARGET,
                    "min",
                    1.0,
                ),
                Figure(
                    "connector transfer / bare stream", node_mbps / bare_mbps, "", None, "min", 1.0, TRANSFER_BEFORE
                ),
                Figure("connector transfer", node_mbps, "MB/s", None, "min", work_mbps),
                Figure(
                    "serving path per core / bare server's",
                    serving_cpu_ratio,
                    "",
                    SERVING_TARGET,
                    "min",
                    1.0,
                ),
                Figure(
                    "serving path per core / bare server's reading the same file",
                    serving_file_ratio,
                    "",
                    None,
                    "min",
                    1.0,
                ),
                Figure(
                    "connector transfer per core / bare client's doing the same work",
                    transfer_cpu_ratio,
                    "",
                    TRANSFER_TARGET,
                    "min",
                    1.0,
                ),
                *(
                    Figure(f"peak RSS, {name}", rss[key], "MiB", RSS_TARGET_MIB, "max")
                    for name, key in (("provider node", "providerNode"), ("puller", "puller"))
                ),
            ],
        )
        return 0
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
