"""The management API of a node whose disk is full: a change it cannot keep is answered 503 with Retry-After and
the database's words (store.unavailable), not 500 "the node failed unexpectedly", and the same request succeeds
once there is room. The node runs as operators run it, its data folder on a small tmpfs in a mount namespace of
its own (tests/mountns.py)."""

from __future__ import annotations

import subprocess

import aiohttp
import mountns
import pytest
from nodekit import API_KEY, make_participant, write_config

pytestmark = pytest.mark.skipif(not mountns.available(), reason="needs root and unshare for a mount namespace")


async def test_a_change_the_full_store_cannot_keep_is_answered_503_and_made_once_there_is_room(authority, tmp_path):
    node = make_participant(authority, tmp_path, "org")
    config = write_config(node, tmp_path)
    disk = tmp_path / "var-org"  # the node's data folder
    disk.mkdir()
    base = f"http://127.0.0.1:{node.management_port}/v1/assets"
    async with mountns.serving(config, disk, "4m", node.management_port, tmp_path / "org.log") as proc:
        fill = f'cat /dev/zero > "{disk}/filler" 2>/dev/null; true'
        subprocess.run(["nsenter", "-t", str(proc.pid), "-m", "sh", "-c", fill], check=True)
        async with aiohttp.ClientSession(headers={"X-Api-Key": API_KEY}) as session:

            async def add(n: int) -> tuple[int, dict, str | None]:
                body = {
                    "id": f"asset-{n}",
                    "title": "x" * 100_000,
                    "source": {"type": "http", "url": "https://a.example/"},
                }
                async with session.post(base, json=body) as resp:
                    return resp.status, await resp.json(content_type=None), resp.headers.get("Retry-After")

            answers = [await add(n) for n in range(40)]
            refused = [a for a in answers if a[0] != 201]
            assert refused, "the full disk took every asset"
            status, problem, retry_after = refused[0]
            assert status == 503 and retry_after, (status, problem)
            assert problem["code"] == "store.unavailable", problem
            assert "database or disk is full" in problem["detail"], problem

            subprocess.run(["nsenter", "-t", str(proc.pid), "-m", "rm", f"{disk}/filler"], check=True)
            n = answers.index(refused[0])
            status, made, _ = await add(n)
            assert status == 201, made
