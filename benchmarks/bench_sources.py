"""How fast the file source streams compared with a bare read loop, and how much memory it holds.

    python benchmarks/bench_sources.py [--size-mib 1024] [--repeat 3] [--dense] [--hash] [--dir FOLDER]

Creates a temporary file (sparse by default, so the page cache and disk are not what is measured; --dense writes
real random data), reads it once with a raw ``os.read`` loop of 256 KiB blocks, then streams it through the file
source (worker-thread preads, one chunk read ahead), optionally hashing as a seal would; each --repeat times,
keeping the best. Prints MiB/s for both, their ratio, and the process's peak RSS after each phase, then one JSON
line for machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from connector.evidence.digest import HashingStream
from connector.sources import CHUNK_SIZE, SourceContext, build_source

MIB = 1024 * 1024


def peak_rss_mib() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / MIB


def make_file(path: Path, size: int, dense: bool) -> None:
    with open(path, "wb") as f:
        if not dense:
            f.truncate(size)
            return
        block = os.urandom(CHUNK_SIZE)
        for _ in range(size // CHUNK_SIZE):
            f.write(block)
        f.write(block[: size % CHUNK_SIZE])


def raw_read(path: Path) -> tuple[int, float]:
    fd = os.open(path, os.O_RDONLY)
    total = 0
    started = time.perf_counter()
    try:
        while True:
            block = os.read(fd, CHUNK_SIZE)
            if not block:
                break
            total += len(block)
    finally:
        os.close(fd)
    return total, time.perf_counter() - started


async def source_read(root: Path, name: str, with_hash: bool) -> tuple[int, float]:
    source = build_source({"type": "file", "path": name}, SourceContext(file_roots={"default": root}))
    started = time.perf_counter()
    stream = await source.open()
    total = 0
    async with stream:
        chunks = HashingStream(stream) if with_hash else stream
        async for chunk in chunks:
            total += len(chunk)
    return total, time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, the fastest counts")
    parser.add_argument("--dense", action="store_true", help="write random data instead of a sparse file")
    parser.add_argument("--hash", action="store_true", help="hash while streaming, as sealing does")
    parser.add_argument("--dir", type=Path, default=None, help="where to create the temporary file")
    args = parser.parse_args()

    size = args.size_mib * MIB
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        root = Path(folder)
        make_file(root / "bench.bin", size, args.dense)
        base_rss = peak_rss_mib()

        raw_runs = [raw_read(root / "bench.bin") for _ in range(args.repeat)]
        raw_rss = peak_rss_mib()
        src_runs = [asyncio.run(source_read(root, "bench.bin", args.hash)) for _ in range(args.repeat)]
        src_rss = peak_rss_mib()

    assert all(n == size for n, _ in raw_runs + src_runs)
    raw_seconds = min(t for _, t in raw_runs)
    src_seconds = min(t for _, t in src_runs)
    raw_rate = size / MIB / raw_seconds
    src_rate = size / MIB / src_seconds
    print(f"file size        {args.size_mib} MiB ({'dense' if args.dense else 'sparse'})")
    print(f"raw os.read      {raw_rate:9.1f} MiB/s  peak RSS {raw_rss:7.1f} MiB")
    print(f"file source{'+sha' if args.hash else '    '}  {src_rate:9.1f} MiB/s  peak RSS {src_rss:7.1f} MiB")
    print(f"ratio            {src_rate / raw_rate:9.2f}")
    print(
        json.dumps(
            {
                "size_mib": args.size_mib,
                "dense": args.dense,
                "hash": args.hash,
                "raw_mib_s": round(raw_rate, 1),
                "source_mib_s": round(src_rate, 1),
                "ratio": round(src_rate / raw_rate, 3),
                "peak_rss_mib": {"start": round(base_rss, 1), "raw": round(raw_rss, 1), "source": round(src_rss, 1)},
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
