"""A provider that hangs in the middle of a pull (its process stopped, SIGSTOP: connections are accepted by the
kernel and never answered, the stream stops without an end): `connector transfer` gives up about `--retry-for`
seconds after the last byte with exit status 3 and the reason, keeps what it received, and the same command
continues from there once the provider runs again (SIGCONT). The provider runs as operators run it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sys

from dataplane_e2e.kit import agree, make_pair
from nodekit import NodeProcess, acli, running_node

BLOCK = os.urandom(1024 * 1024)


async def test_a_provider_that_hangs_mid_stream_stops_the_pull_in_time_and_it_continues_after(authority, tmp_path):
    pair = make_pair(authority, tmp_path)
    data = BLOCK * 64
    (pair.root / "rain.bin").write_bytes(data)
    provider = NodeProcess(pair.pcfg, pair.provider).start()
    try:
        async with running_node(pair.ccfg):
            agreement = await agree(pair, "rain", {"type": "file", "path": "rain.bin"})
            out = tmp_path / "rain-copy.bin"
            part = out.with_name(out.name + ".part")
            args = ("transfer", agreement, "--out", str(out), "--config", str(pair.ccfg), "--quiet", "--json")
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "connector",
                *args,
                "--retry-for",
                "3",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while not (part.exists() and part.stat().st_size >= 2 * 1024 * 1024):
                assert loop.time() < deadline and proc.returncode is None, "the pull did not begin"
                await asyncio.sleep(0.001)
            provider.proc.send_signal(signal.SIGSTOP)
            stopped = loop.time()
            answer, _ = await asyncio.wait_for(proc.communicate(), 60)
            waited = loop.time() - stopped
            assert proc.returncode == 3, answer  # unreachable: trying again later may help
            error = json.loads(answer)["error"]
            assert error["code"] == "pull.broken" and "gave up after trying for 3 s" in error["reason"], error
            assert waited < 15, f"gave up {waited:.1f} s after the provider stopped, with --retry-for 3"
            kept = part.stat().st_size
            assert 0 < kept < len(data)

            provider.proc.send_signal(signal.SIGCONT)
            again = await acli(*args, timeout=120)
            assert again.returncode == 0, again
            result = json.loads(again.stdout)
            assert result["resumedFrom"] == kept and result["seal"]["verified"] is True, result
            assert hashlib.sha256(out.read_bytes()).hexdigest() == hashlib.sha256(data).hexdigest()
    finally:
        provider.proc.send_signal(signal.SIGCONT)
        provider.stop()
