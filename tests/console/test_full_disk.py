"""A console fetch onto a full disk: the fetch fails naming the cause, and what it had pulled does not stay in the
node's data folder, where it would keep the disk full (the node's store beside it included) with data nobody can
download; a fetch once there is room succeeds. The consumer runs as operators run it, its data folder on a small
tmpfs in a mount namespace of its own (tests/mountns.py)."""

from __future__ import annotations

import asyncio
import os
import subprocess
from urllib.parse import quote

import mountns
import pytest
from console.kit import ConsoleClient
from dataplane_e2e.kit import agree, make_pair
from nodekit import running_node

pytestmark = pytest.mark.skipif(not mountns.available(), reason="needs root and unshare for a mount namespace")


def _downloads(pid: int, folder: str) -> str:
    """What the consumer's download folder holds, as seen in its mount namespace."""
    ran = subprocess.run(["nsenter", "-t", str(pid), "-m", "find", folder, "-type", "f"], capture_output=True)
    return ran.stdout.decode()


async def _fetch(console: ConsoleClient, agreement: str) -> str:
    """Fetch under `agreement` through the console; the fetch page once it ended."""
    page = f"/agreements/{quote(agreement, safe='')}"
    resp, text = await console.form(page, f"{page}/fetch", {})
    assert resp.status == 200 and "/console/fetches/" in str(resp.url), text
    for _ in range(300):
        if "this page refreshes itself" not in text:
            return text
        await asyncio.sleep(0.1)
        _, text = await console.get(str(resp.url))
    raise AssertionError(text)


async def test_a_fetch_onto_a_full_disk_fails_clearly_and_leaves_no_data_behind(authority, tmp_path):
    pair = make_pair(authority, tmp_path)
    (pair.root / "big.bin").write_bytes(os.urandom(6 * 1024 * 1024))
    (pair.root / "small.bin").write_bytes(os.urandom(64 * 1024))
    disk = tmp_path / "var-consumer"  # the consumer's data folder: its store, its console downloads
    disk.mkdir()
    console = ConsoleClient(f"http://127.0.0.1:{pair.consumer.management_port}/console")
    log = tmp_path / "consumer.log"
    try:
        async with mountns.serving(pair.ccfg, disk, "4m", pair.consumer.management_port, log) as node:
            async with running_node(pair.pcfg):
                big = await agree(pair, "big", {"type": "file", "path": "big.bin"})
                small = await agree(pair, "small", {"type": "file", "path": "small.bin"})
                await console.login()
                failed = await _fetch(console, big)
                assert "The fetch failed" in failed and "no space left on the device" in failed, failed
                await asyncio.sleep(0.5)  # the folder goes in the background
                assert _downloads(node.pid, str(disk / "console" / "downloads")) == ""
                done = await _fetch(console, small)
                assert "the provider&#39;s seal verified" in done or "seal verified" in done, done
    finally:
        await console.close()
