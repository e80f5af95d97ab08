"""docker-compose.yml, checked offline: it validates against the Compose specification's schema (the one that
check-jsonschema ships), and it describes the data space the compose workspace creates, service for service."""

import shlex
import subprocess
import sys
from pathlib import Path

from ruamel.yaml import YAML

from connector.demo import workspace

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


def _compose() -> dict:
    return YAML(typ="safe").load(COMPOSE.read_text(encoding="utf-8"))


def test_the_compose_file_validates_against_the_compose_specification():
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_file_that_breaks_the_specification_is_caught(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(COMPOSE.read_text(encoding="utf-8").replace("restart: on-failure", "restart: [on-failure]", 1))
    result = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0


def test_every_organisation_and_authority_of_the_compose_workspace_is_a_service(tmp_path):
    ws = workspace.create(tmp_path / "compose", "compose")
    services = _compose()["services"]
    for authority in ws.data["authorities"]:
        service = services[authority["service"]]
        command = service["command"]
        assert command[:2] == ["authority", "serve"]
        assert command[command.index("--dir") + 1] == f"/workspace/{authority['dir']}"
        assert command[command.index("--listen") + 1] == authority["listen"]
        assert authority["publicUrl"] == f"https://{authority['service']}:{authority['listen'].rsplit(':', 1)[1]}"
    for org in ws.data["organisations"]:
        service = services[org["key"]]
        config = f"/workspace/{org['config']}"
        assert service["command"] == ["serve", "--config", config]
        assert service["environment"]["CONNECTOR_CONFIG"] == config
        assert "workspace:/workspace:ro" in service["volumes"]
        # The management API is published on the host's loopback only, on the port the node listens on.
        inside = org["listen"]["management"].rsplit(":", 1)[1]
        assert all(p.startswith("127.0.0.1:") and p.endswith(f":{inside}") for p in service["ports"]), service["ports"]
        assert f"https://{org['key']}:" in org["protocol"]


def test_the_init_service_creates_the_compose_workspace_and_the_story_runs_against_it():
    services = _compose()["services"]
    init_script = services["init"]["entrypoint"][-1]
    assert "connector demo init --workdir /workspace --profile compose" in init_script
    assert shlex.split(" ".join(services["story"]["command"]))[:2] == ["demo", "story"]
    declared = set(_compose()["volumes"])
    for name, service in services.items():
        for volume in service.get("volumes", []):
            assert volume.split(":", 1)[0] in declared, (name, volume)
