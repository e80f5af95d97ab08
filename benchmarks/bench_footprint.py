"""An idle node's footprint: how long `connector serve` takes to be ready and how much memory it then holds.

One certificate-only node (the default configuration: evidence on, SQLite, both listeners) is started as a
separate process, as operators run it; the time from starting the process to the first successful readiness
check (`/check/readiness` on the management listener) is its time to ready; after it has been idle for a moment
its resident memory (VmRSS) and the CPU it spent starting are read from /proc. Baseline in the same run, alternating
with the node: a bare Python process that imports aiohttp (what any node rides on) and says it is ready. Several
rounds, medians. Nothing asserted: figures beside their targets (under 60 MiB idle, ready in under 1 s).

With --before DIR the same node is also started from the `connector` package in DIR (an earlier version of the
code, e.g. `git archive <commit> connector | tar -x -C DIR`), in the same rounds, for the figures before a change.
The package's bytecode is compiled first, as installing it does, so that no start pays for compiling.

    python benchmarks/bench_footprint.py [--rounds 5] [--idle 2] [--before DIR]
"""

from __future__ import annotations

import argparse
import compileall
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_negotiation import cpu_seconds, write_node
from reporting import Figure, median, report

import connector
from connector.pki.authority import Authority

# Before DCP's holder side, the DSP messages, the policy engine and the provider's side of the data plane waited for
# their first use (the README's Performance section, third run): seconds to ready, idle MiB, CPU seconds to ready.
BEFORE = (0.430, 62.8, 0.420)
BASELINE = "import sys, aiohttp; print('ready', flush=True); sys.stdin.read()"


def resident_mib(proc: subprocess.Popen) -> float:
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def node_round(node: dict, idle: float, code: Path | None = None) -> tuple[float, float, float]:
    """(seconds to ready, idle RSS MiB, CPU seconds to ready) of one start of the node (from the package in
    `code`, if given)."""
    env = dict(os.environ, PYTHONPATH=str(code)) if code is not None else None
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "serve", "--config", str(node["config"])],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=node["config"].parent,  # not a folder holding a `connector` package
    )
    try:
        url = f"http://127.0.0.1:{node['mport']}/check/readiness"
        deadline = started + 30
        while True:
            try:
                with urllib.request.urlopen(url, timeout=1):
                    break
            except OSError:
                if time.perf_counter() > deadline or proc.poll() is not None:
                    raise SystemExit("the node did not become ready") from None
                time.sleep(0.005)
        return settled(proc, started, idle)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def settled(proc: subprocess.Popen[bytes], started: float, idle: float) -> tuple[float, float, float]:
    """A process that just said it is ready: (seconds since `started`, RSS in MiB after `idle` seconds, CPU
    seconds to ready)."""
    ready = time.perf_counter() - started
    cpu = cpu_seconds(proc)
    time.sleep(idle)
    return ready, resident_mib(proc), cpu


def baseline_round(idle: float) -> tuple[float, float, float]:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", BASELINE], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        proc.stdout.readline()
        return settled(proc, started, idle)
    finally:
        proc.kill()
        proc.wait(timeout=30)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle", type=float, default=2.0, help="seconds idle before memory is read")
    parser.add_argument("--before", type=Path, help="a folder holding an earlier `connector` package")
    args = parser.parse_args()
    for folder in [Path(connector.__file__).parent, *([args.before / "connector"] if args.before else [])]:
        compileall.compile_dir(folder, quiet=1)
    with tempfile.TemporaryDirectory(prefix="bench-footprint-") as tmp:
        root = Path(tmp)
        authority = Authority.init(root / "authority", "Bench Federation")
        node = write_node(root, authority, "idle")
        node_round(node, 0, args.before)  # the first start creates the store; later ones open it, as a restart does
        nodes: list[tuple[float, float, float]] = []
        bases: list[tuple[float, float, float]] = []
        earlier: list[tuple[float, float, float]] = []
        for _ in range(args.rounds):
            bases.append(baseline_round(args.idle))
            nodes.append(node_round(node, args.idle))
            if args.before:
                earlier.append(node_round(node, args.idle, args.before))
    ready, rss, cpu = (median(r[i] for r in nodes) for i in range(3))
    base_ready, base_rss, base_cpu = (median(r[i] for r in bases) for i in range(3))
    was: tuple[float | None, ...] = tuple(median(r[i] for r in earlier) for i in range(3)) if earlier else BEFORE
    report(
        "idle node (bench_footprint)",
        [
            Figure("time to ready, median", ready * 1000, "ms", 1000, "max", base_ready * 1000, _ms(was[0])),
            Figure("idle RSS, median", rss, "MiB", 60, "max", base_rss, was[1]),
            Figure("CPU to ready, median", cpu * 1000, "ms", None, "max", base_cpu * 1000, _ms(was[2])),
        ],
        {
            "rounds": args.rounds,
            "idle_seconds": args.idle,
            "node_rss_range": [min(r[1] for r in nodes), max(r[1] for r in nodes)],
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
