"""Store growth per negotiation on the provider, with evidence and credentials (the demo's data space).

Runs a number of negotiations to FINALIZED (after a warm-up) between the data space's Tokyo (provider) and Berlin
(consumer), and reads the provider's SQLite store through a read-only connection of its own before and after:
- logical size: page_count x page_size, what the file holds once the write-ahead log is checkpointed into it (the
  node checkpoints as it goes and at shutdown), free pages included;
- packed size: the size of `VACUUM INTO` a copy (no free pages, every table and index rebuilt full), i.e. the
  bytes the content itself needs.
Bytes per negotiation are the growth divided by the negotiations; the growth of each table and index (dbstat) is
listed too, and the growth of the tables that do not grow for ever is told apart (BOUNDED: the DCP tokens seen, kept
until each expires; the answers to received messages, kept a day for retries; the latest 100,000 verification
records), so that what a node keeps for good per negotiation shows beside the total. With retention (`connector
evidence archive`), the log is archived after the warm-up and again after the run, and the live store's packed
growth is reported as well (the records moved to the archive files; their size per negotiation is listed). Nothing
is timed.

    python benchmarks/bench_storage.py [--negotiations 300] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import aiohttp
from bench_negotiation import api, data_space, latency, throughput
from reporting import Figure, report

TARGET_BYTES = 8 * 1024
BEFORE_KIB = 37.5  # each value stored whole, measured by this script on the README's machine

# Tables (with their indexes) whose rows the node removes on its own, so they hold at most a window of the traffic:
# counted in the total (a run of 1,000 negotiations holds them all), and told apart from what stays for good.
BOUNDED = {
    "trust_replay": "DCP token ids, until each token expires (minutes)",
    "trust_replay_by_until": "its index",
    "received_messages": "answers to received messages, a day for retries",
    "verifications": "the latest 100,000 verification records",
    "verifications_by_peer": "its index",
    "verifications_by_outcome": "its index",
}


def sizes(path: Path, scratch: Path) -> dict[str, object]:
    """(logical size, packed size, bytes per table) of the store at `path`, read without disturbing its node."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        logical = conn.execute("PRAGMA page_count").fetchone()[0] * page_size
        packed_file = scratch / f"packed-{logical}.sqlite"
        packed_file.unlink(missing_ok=True)
        conn.execute("VACUUM INTO ?", [str(packed_file)])
    finally:
        conn.close()
    packed = packed_file.stat().st_size
    conn = sqlite3.connect(packed_file)
    try:
        tables = dict(conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"))
    except sqlite3.OperationalError:  # an SQLite without the dbstat table
        tables = {}
    finally:
        conn.close()
        packed_file.unlink(missing_ok=True)
    return {"logical": logical, "packed": packed, "tables": tables}


async def archive(node: dict) -> dict:
    """Archive the node's log up to a checkpoint made now."""
    async with aiohttp.ClientSession() as session:
        return await api(session, node, "POST", "/v1/evidence/archives", {"olderThanDays": 0})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--negotiations", type=int, default=300, help="negotiations measured (1000 for the full run)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-storage-"))
    atexit.register(shutil.rmtree, root, True)  # the nodes' folders go when the benchmark ends
    space, provider, consumer = data_space(root)
    store = root / "data-space" / "orgs" / "tokyo-mobility" / "var" / "connector.sqlite"
    try:
        asyncio.run(latency(provider, consumer, 20))  # warm-up: connections, caches, first rows of every table
        before = sizes(store, root)
        _, finalized = asyncio.run(throughput(provider, consumer, args.negotiations, args.concurrency))
        after = sizes(store, root)
        asyncio.run(archive(provider))  # the warm-up's records and those before the run
        archived_before = sizes(store, root)
        _, archived_run = asyncio.run(throughput(provider, consumer, args.negotiations, args.concurrency))
        moved = asyncio.run(archive(provider))
        archived_after = sizes(store, root)
    finally:
        space.stop()
    archive_bytes = Path(moved["path"]).stat().st_size / max(1, archived_run)
    live = (archived_after["packed"] - archived_before["packed"]) / max(1, archived_run)  # type: ignore[operator]
    done = max(1, finalized)
    logical = (after["logical"] - before["logical"]) / done  # type: ignore[operator]
    packed = (after["packed"] - before["packed"]) / done  # type: ignore[operator]
    grown = {
        name: round((size - before["tables"].get(name, 0)) / done)  # type: ignore[union-attr]
        for name, size in after["tables"].items()  # type: ignore[union-attr]
    }
    bounded = sum(v for k, v in grown.items() if k in BOUNDED)
    result = {
        "negotiations": finalized,
        "bytes_per_negotiation": {
            "logical": round(logical),
            "packed": round(packed),
            "packed_kept_for_good": round(packed - bounded),
            "packed_in_bounded_tables": bounded,
        },
        "bounded_tables": BOUNDED,
        "by_table_packed": dict(sorted(((k, v) for k, v in grown.items() if v), key=lambda kv: -kv[1])),
        "with_retention": {
            "negotiations": archived_run,
            "live_bytes_per_negotiation_packed": round(live),
            "archive_file_bytes_per_negotiation": round(archive_bytes),
        },
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    report(
        "storage",
        [
            Figure(
                "store per negotiation, packed (VACUUM INTO)",
                packed / 1024,
                "KiB",
                TARGET_BYTES / 1024,
                "max",
                before=BEFORE_KIB,
            ),
            Figure(
                "of which kept for good (the bounded tables left out)", (packed - bounded) / 1024, "KiB", None, "max"
            ),
            Figure("store per negotiation, logical (checkpointed file)", logical / 1024, "KiB", None, "max"),
            Figure("live store per negotiation, log archived", live / 1024, "KiB", TARGET_BYTES / 1024, "max"),
        ],
        details=result,
    )


if __name__ == "__main__":
    main()
