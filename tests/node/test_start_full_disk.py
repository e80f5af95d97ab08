"""A node started on a data folder whose disk is full: one line naming the cause (SQLite rolled the migration back
itself; the node must not hide that behind a failed ROLLBACK of its own), nothing half-made that stops it later,
and the store made once there is room. The data folder is a small tmpfs in a mount namespace of the commands'
own (tests/mountns.py)."""

from __future__ import annotations

import subprocess
import sys

import mountns
import pytest
from nodekit import cli_environment, make_participant, write_config

pytestmark = pytest.mark.skipif(not mountns.available(), reason="needs root and unshare for a mount namespace")

# The disk is filled but for room too small for the store, the node started, room made, the store made again.
SCRIPT = """
head -c 900k /dev/zero > "$DISK/filler"
"$PY" -m connector serve --config "$CONFIG"
echo "first exit $?"
rm "$DISK/filler"
"$PY" -m connector store migrate --config "$CONFIG"
echo "second exit $?"
"""


def test_a_node_started_on_a_full_disk_says_so_and_its_store_is_made_once_there_is_room(authority, tmp_path):
    node = make_participant(authority, tmp_path, "provider")
    config = write_config(node, tmp_path)
    disk = tmp_path / "var-provider"  # the node's data folder
    disk.mkdir()
    env = cli_environment()
    env.update(DISK=str(disk), PY=sys.executable, CONFIG=str(config))
    ran = subprocess.run(
        mountns.in_small_disk(disk, "1m", SCRIPT), env=env, capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran
    first, second = ran.stdout.split("first exit ", 1)
    assert second.startswith("2\n"), ran  # a problem of the machine's, told as such: not a crash
    errors = [line for line in ran.stderr.splitlines() if line.startswith("connector: ")]
    assert len(errors) == 1 and "Traceback" not in ran.stderr, ran.stderr
    assert "database or disk is full" in errors[0] and "cannot rollback" not in errors[0], errors
    assert str(disk / "connector.sqlite") in errors[0], errors
    assert "second exit 0" in second and "schema version" in second, ran
