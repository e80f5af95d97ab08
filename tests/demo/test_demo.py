"""The demo as people meet it: `connector demo` runs the whole story and says so; the compose profile's workspace
is complete and every configuration in it loads."""

import json
import subprocess
import sys

from connector.config import load_config
from connector.demo import workspace


def test_the_demo_story_completes_with_every_step_as_expected(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "connector", "demo", "--workdir", str(tmp_path / "ws")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "steps behaved as expected" in result.stdout
    assert "FAIL" not in result.stdout
    for state in (
        "REQUESTED -> AGREED -> VERIFIED -> FINALIZED",
        "countryOfEstablishment",
        "count lteq 2",
        "409 duty.no_onward_transfer",
        "by its deadline",
        "the restored evidence log verifies",
    ):
        assert state in result.stdout, state
    # The trust framework steps: a recognition path in a trace, a registry check, a TSA judged at stamping time.
    for shown in (
        "European Data Space recognises Japan Data Space's MembershipCredential",
        "gleif-goldencopy-lei2-golden-copy.csv",
        "not accredited when the time-stamp was made",
    ):
        assert shown in result.stdout, shown
    described = json.loads((tmp_path / "ws" / "workspace.json").read_text())
    assert {o["key"] for o in described["organisations"]} == {"tokyo-mobility", "berlin-energy", "lyon-health"}
    assert len({o["country"] for o in described["organisations"]}) == 3
    assert len(described["authorities"]) == 2
    for dataset in described["datasets"]:
        assert dataset["expected"] and dataset["policy"] and dataset["source"]


def test_the_compose_workspace_names_services_and_its_configurations_load(tmp_path):
    ws = workspace.create(tmp_path / "compose", "compose")
    for org in ws.data["organisations"]:
        config = load_config(ws.path(org["config"]), environ={})
        assert config.protocol.listen.host == "0.0.0.0"
        assert org["key"] in config.node.participant_id
        assert [p.name for p in config.peers] and all(p.address.startswith("https://") for p in config.peers)
        assert len(config.trust.lists) == 2
    assert {a["publicUrl"] for a in ws.data["authorities"]} == {
        "https://authority-jp:8765",
        "https://authority-eu:8765",
    }
