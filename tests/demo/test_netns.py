"""scripts/netns-demo.sh: the story across network namespaces, each party on a host of its own, reached by name;
it passes, each party's folder holds only its own keys, and the namespaces are gone afterwards. Needs root (and
network namespaces): skipped elsewhere."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from connector.demo import workspace
from connector.demo.audit import crossings

pytestmark = pytest.mark.slow  # a whole data space over the namespaces' network

ROOT = Path(__file__).resolve().parents[2]


def _namespaces() -> set[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in listed.splitlines() if line.strip()}


def _can_make_namespaces() -> bool:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    probe = f"probe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True).returncode == 0
    if made:
        subprocess.run(["ip", "netns", "del", probe], check=True)
    return made


@pytest.mark.skipif(not _can_make_namespaces(), reason="needs root and network namespaces")
def test_the_story_passes_across_namespaces_and_leaves_none_behind(tmp_path):
    before = _namespaces()
    result = subprocess.run(
        [str(ROOT / "scripts" / "netns-demo.sh"), str(tmp_path / "run")],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    counted = re.search(r"(\d+)/(\d+) steps behaved as expected", result.stdout)
    assert counted is not None and counted[1] == counted[2] and int(counted[1]) >= 9, result.stdout[-2000:]
    assert "the other hosts learn it from the authority's URLs alone" in result.stdout
    assert "each held by its own party alone" in result.stdout
    assert _namespaces() == before

    ws = workspace.Workspace.load(tmp_path / "run" / "ws")
    assert crossings(ws) == []
    hosts = json.loads((tmp_path / "run" / "hosts.json").read_text())
    for org in ws.data["organisations"]:
        assert org["participantId"] == f"did:web:{hosts[org['key']]['host']}%3A8443"  # named by its host
        assert org["run"][:3] == ["ip", "netns", "exec"]
    addresses = {entry["address"] for entry in hosts.values()}
    assert len(addresses) == len(hosts) == 5  # a host, and an address, per party
