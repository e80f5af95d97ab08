"""A node whose disk fills up: peers are told to come back later and lose nothing, the health probe says what is
wrong (a heartbeat that rewrites its row still commits on a full disk, while the node's work is refused), and once
there is room again every pending negotiation finishes on both sides, without a restart or a human. The provider
runs as operators run it, its data folder on a small tmpfs in a mount namespace of its own (tests/mountns.py)."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import mountns
import pytest
from nodekit import Management, dsp_settings, offered_weather, provider_and_consumer, running_node

pytestmark = pytest.mark.skipif(not mountns.available(), reason="needs root and unshare for a mount namespace")


def _health(port: int) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/check/health", timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


async def test_a_full_disk_is_reported_loses_nothing_and_the_node_carries_on_once_there_is_room(authority, tmp_path):
    quick = dsp_settings(retry_initial=0.1, retry_max=1.0)
    provider, consumer, pcfg, ccfg = provider_and_consumer(
        authority, tmp_path, provider_extra=offered_weather() + quick, consumer_extra=quick
    )
    # The provider's data folder: its store and evidence. A new node holds about 0.7 MiB there, and its write-ahead
    # log grows by each negotiation's writes until the disk is full: room for dozens of negotiations first.
    disk = tmp_path / "var-provider"
    disk.mkdir()
    log = tmp_path / "provider.log"
    async with mountns.serving(pcfg, disk, "3m", provider.management_port, log) as node:
        async with running_node(ccfg):
            cm = Management(consumer)
            started: list[str] = []

            def refusing() -> bool:
                status, body = _safe_health(provider.management_port)
                return status == 503 or body.get("checks", {}).get("store") == "failing"

            while len(started) < 400 and not await asyncio.to_thread(refusing):
                started.append(await cm.start_negotiation(provider, "weather-offer", "weather"))
                if len(started) % 5 == 0:
                    await asyncio.sleep(0.3)
            status, body = _health(provider.management_port)
            assert body["checks"]["store"] == "failing", (len(started), body, _log(tmp_path))
            # Either its heartbeat failed too, or it committed while the node's writes were refused.
            assert "database or disk is full" in body["details"]["store"], body
            assert started

            mountns.grow(node.pid, disk, "64m")
            ended = [await cm.await_negotiation(n, timeout=60) for n in started]
            assert {n["state"] for n in ended} == {"FINALIZED"}, [n.get("reason") for n in ended]
            pm = Management(provider)
            for n in ended:
                theirs = await pm.call("GET", f"/v1/negotiations/{n['providerPid']}", None, 200)
                assert theirs["state"] == "FINALIZED" and theirs["agreementId"] == n["agreementId"]
            check = await pm.call("POST", "/v1/evidence/check", None, 200)
            assert check["ok"] is True, check


def _safe_health(port: int) -> tuple[int, dict[str, Any]]:
    try:
        return _health(port)
    except OSError:
        return 0, {}


def _log(tmp_path: Path) -> str:
    return (tmp_path / "provider.log").read_text(errors="replace")[-3000:]
