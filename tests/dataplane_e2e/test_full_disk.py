"""`connector transfer` onto a disk that fills up: one clear error naming the cause, the part kept, and the same
command continuing from there once there is room. A real file system fills up here: a small tmpfs, mounted in a
mount namespace of the command's own (so nothing of the machine changes, and it goes with the command). That
needs root and util-linux's `unshare`; elsewhere the test is skipped (tests/pull covers the same at the OS's
interface)."""

from __future__ import annotations

import asyncio
import json
import os
import sys

import mountns
import pytest
from dataplane_e2e.kit import agree, both, wait_state
from nodekit import cli_environment

pytestmark = pytest.mark.skipif(not mountns.available(), reason="needs root and unshare for a mount namespace")

# On an 8 MiB file system: transfer 20 MiB, make room, run the same command again.
SCRIPT = """
"$PY" -m connector transfer "$AGREEMENT" --out "$DISK/rain.bin" --config "$CONFIG" --json
echo "first exit $?"
mount -o remount,size=64m "$DISK" || exit 98
"$PY" -m connector transfer "$AGREEMENT" --out "$DISK/rain.bin" --config "$CONFIG" --json
echo "second exit $?"
cmp -s "$DISK/rain.bin" "$SOURCE" && echo "same bytes"
ls -a "$DISK"
"""


async def test_a_full_disk_stops_the_transfer_clearly_and_the_same_command_continues_once_there_is_room(pair):
    data = os.urandom(20 * 1024 * 1024)
    source = pair.root / "rain.bin"
    source.write_bytes(data)
    disk = pair.tmp / "disk"
    disk.mkdir()
    async with both(pair):
        agreement = await agree(pair, "rain", {"type": "file", "path": "rain.bin"})
        env = cli_environment()
        env.update(DISK=str(disk), PY=sys.executable, AGREEMENT=agreement, CONFIG=str(pair.ccfg), SOURCE=str(source))
        proc = await asyncio.create_subprocess_exec(
            *mountns.in_small_disk(disk, "8m", SCRIPT),
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 180)
        text = out.decode()
        assert proc.returncode == 0, text + err.decode()
        first, rest = text.split("first exit ", 1)
        error = json.loads(first)["error"]
        assert rest.startswith("2\n"), text  # a problem here, not a refusal nor an unreachable peer
        assert error["code"] == "download.no_space", error
        assert "no space left on the device that holds 'rain.bin.part'" in error["reason"], error
        assert error["where"] == str(disk / "rain.bin.part")
        second, rest = rest[2:].split("second exit ", 1)
        result = json.loads(second)
        assert result["seal"]["verified"] is True and result["size"] == len(data)
        assert 0 < result["resumedFrom"] < len(data), result  # continued from what the full disk kept
        assert "same bytes" in rest
        assert "rain.bin.part" not in rest  # nothing left beside the file
        # The file lies in the command's own mount namespace, which the node (this process) cannot see, so the
        # node declined to record it as received; completing without naming it is what is left.
        assert "not a file this node can see" in result["completionError"], result
        await pair.cm.call("POST", f"/v1/transfers/{result['transferId']}/complete", None, 200)
        await wait_state(pair.cm, result["transferId"], "COMPLETED")
