"""The files the command line writes whole or not at all, onto a disk that is full: `store backup --to`,
`export --all --out`, `evidence export --out` and `store copy --to` each end with one line naming the file and
the cause (exit status 2), leave nothing behind that could pass for a finished copy, and write it once there is
room. The target folder is a small tmpfs in a mount namespace of the commands' own (tests/mountns.py)."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import mountns
import pytest
from nodekit import Management, cli_environment, make_participant, running_node, write_config

pytestmark = pytest.mark.skipif(not mountns.available(), reason="needs root and unshare for a mount namespace")

# Each command onto a disk full to the last byte, then onto one with some room but not enough for a store (the
# other files fit there), then with room.
FILL = """
fill() {
  rm -f "$OUT"/* "$OUT"/.[!.]*
  [ "$1" = none ] && cat /dev/zero > "$OUT/filler" 2>/dev/null
  [ "$1" = some ] && head -c 1900k /dev/zero > "$OUT/filler"
  true
}
"""
WHILE_RUNNING = (
    FILL
    + """
for room in none some enough; do
  fill $room
  "$PY" -m connector store backup --to "$OUT/backup.sqlite" --config "$CONFIG" >/dev/null
  echo "$room backup $?"
  if [ $room != some ]; then
    "$PY" -m connector export --all --out "$OUT/all.zip" --config "$CONFIG" >/dev/null
    echo "$room export $?"
    "$PY" -m connector evidence export "$AGREEMENT" --out "$OUT/bundle.json" --config "$CONFIG" >/dev/null
    echo "$room bundle $?"
  fi
  ls -A "$OUT" | grep -v filler | sed "s/^/$room has /"
done
"""
)
STOPPED = (
    FILL
    + """
for room in none some enough; do
  fill $room
  "$PY" -m connector store copy --to "$OUT/copy.sqlite" --config "$CONFIG" >/dev/null
  echo "$room copy $?"
  ls -A "$OUT" | grep -v filler | sed "s/^/$room has /"
done
"""
)


async def _in_small_disk(disk: Path, script: str, **env: str) -> tuple[str, list[str]]:
    environ = cli_environment()
    environ.update(OUT=str(disk), PY=sys.executable, **env)
    proc = await asyncio.create_subprocess_exec(
        *mountns.in_small_disk(disk, "2m", script),
        env=environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, out.decode() + err.decode()
    return out.decode(), err.decode().splitlines()


def _exits(out: str) -> dict[str, int]:
    return {f"{room} {what}": int(code) for room, what, code in re.findall(r"^(\w+) (\w+) (\d+)$", out, re.M)}


async def test_outputs_onto_a_full_disk_fail_clearly_leave_nothing_and_are_written_once_there_is_room(
    authority, tmp_path
):
    provider = make_participant(authority, tmp_path, "provider")
    consumer = make_participant(authority, tmp_path, "consumer")
    pcfg, ccfg = write_config(provider, tmp_path), write_config(consumer, tmp_path)
    disk = tmp_path / "out"
    disk.mkdir()
    async with running_node(pcfg), running_node(ccfg):
        pm, cm = Management(provider), Management(consumer)
        agreed = await cm.negotiate(provider, await pm.offer("weather"), "weather")
        assert agreed["state"] == "FINALIZED", agreed
        out, errors = await _in_small_disk(disk, WHILE_RUNNING, CONFIG=str(pcfg), AGREEMENT=agreed["agreementId"])
    stopped, more = await _in_small_disk(disk, STOPPED, CONFIG=str(pcfg))
    out, errors = out + stopped, errors + more

    exits = _exits(out)
    assert {k: v for k, v in exits.items() if not k.startswith("enough")} == {
        **{f"none {what}": 2 for what in ("backup", "export", "bundle", "copy")},
        **{f"some {what}": 2 for what in ("backup", "copy")},
    }, (out, errors)
    assert not [line for line in out.splitlines() if line.startswith(("none has", "some has"))], out
    assert "Traceback" not in "\n".join(errors) and all(e.startswith("connector: error: ") for e in errors), errors
    told = {(what, room): line for line, (room, what) in zip(errors, _failed(exits), strict=True)}
    for (what, room), line in told.items():
        target = {"backup": "backup.sqlite", "export": "all.zip", "bundle": "bundle.json", "copy": "copy.sqlite"}
        assert str(disk / target[what]) in line, line
        assert line.endswith("[--to]" if what in ("backup", "copy") else "[--out]"), line
        if room == "some" or what != "copy":  # a disk full to the last byte fails SQLite's shared memory first
            assert f"no space left on the device that holds {disk / target[what]}" in line, line

    assert {k: v for k, v in exits.items() if k.startswith("enough")} == {
        "enough backup": 0,
        "enough export": 0,
        "enough bundle": 0,
        "enough copy": 0,
    }, (out, errors)
    assert {line.split()[-1] for line in out.splitlines() if line.startswith("enough has")} >= {
        "backup.sqlite",
        "all.zip",
        "bundle.json",
        "copy.sqlite",
    }, out


def _failed(exits: dict[str, int]) -> list[tuple[str, str]]:
    """(room, command) of each failure, in the order the errors were written."""
    order = [k.split() for k in exits if exits[k]]
    running = [(r, w) for r, w in order if w != "copy"]
    return running + [(r, w) for r, w in order if w == "copy"]
