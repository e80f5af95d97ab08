"""docker-compose.yml, checked offline (no container engine runs here): it validates against the Compose
specification's schema (the one check-jsonschema ships), every party has a volume of its own, no volume holds
another party's private key (each party's folder made as its container makes it), and API keys come from secret
files, one per node."""

import asyncio
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from connector.demo import workspace
from connector.demo.audit import crossings, held_keys
from connector.demo.party import sign_recognition
from connector.demo.scenario import FEDERATIONS, ORGANISATIONS
from connector.errors import ConnectorError

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
PARTIES = [f"authority-{f.key}" for f in FEDERATIONS] + [o.key for o in ORGANISATIONS]


def _compose() -> dict:
    return YAML(typ="safe").load(COMPOSE.read_text(encoding="utf-8"))


def _mounts(service: dict) -> dict[str, str]:
    """volume name -> where it is mounted (with :ro kept on the path)."""
    return {v.split(":", 1)[0]: v.split(":", 1)[1] for v in service.get("volumes", [])}


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


def test_every_party_runs_in_its_own_service_on_a_volume_of_its_own():
    compose = _compose()
    services = compose["services"]
    described = workspace.describe("compose", workspace.places("compose"))
    folders = {a["service"]: a["dir"] for a in described["authorities"]} | {
        o["key"]: o["dir"] for o in described["organisations"]
    }
    owners: dict[str, str] = {}
    for party in PARTIES:
        service = services[party]
        assert service["command"][:3] == ["demo", "party", party] and "--serve" in service["command"]
        mounts = _mounts(service)
        own = [name for name in mounts if name != "public"]
        assert own == [party], (party, mounts)  # its own volume, and the public one
        assert mounts[party] == f"/workspace/{folders[party]}"
        owners[party] = party
        if party.startswith("authority-"):
            assert mounts["public"] == "/workspace/public" and "secrets" not in service
        else:
            assert mounts["public"] == "/workspace/public:ro"  # organisations only read what is public
            assert service["secrets"] == [f"{party}-api-key"]  # its own API key, nobody else's
            assert service["environment"]["CONNECTOR_CONFIG"] == f"/workspace/{folders[party]}/node.toml"
            assert all(p.startswith("127.0.0.1:") and p.endswith(":8181") for p in service["ports"])
    assert set(compose["volumes"]) == set(PARTIES) | {"public"}
    for name, service in services.items():  # no party service mounts another party's volume
        if name in PARTIES:
            assert set(_mounts(service)) <= {name, "public"}


def test_the_story_acts_as_berlin_and_the_eu_authority_with_every_node_s_api_key():
    services = _compose()["services"]
    story = services["story"]
    assert shlex.split(" ".join(story["command"]))[:2] == ["demo", "story"] and "compose" in story["command"]
    assert set(_mounts(story)) == {"berlin-energy", "authority-eu", "public"}
    assert sorted(story["secrets"]) == sorted(f"{o.key}-api-key" for o in ORGANISATIONS)
    assert story["network_mode"] == "service:berlin-energy"
    secrets = _compose()["secrets"]
    assert all(secrets[f"{o.key}-api-key"]["file"].endswith(f"/{o.key}-api-key") for o in ORGANISATIONS)


def _authorities_up(directory: Path) -> None:
    """Both authorities' containers: each makes its folder, publishes, and signs its recognition of the other
    once the other's trust list is out (the first one up finds none at first)."""
    for party in PARTIES[:2]:
        workspace.create_party(directory, party)
    ws = workspace.derived(directory, "compose")
    for authority in ws.data["authorities"]:
        asyncio.run(sign_recognition(directory, ws.data, authority))


def test_an_organisation_waits_until_both_authorities_signed_their_recognitions(tmp_path):
    for party in PARTIES[:2]:  # the first authority made its folder before the second published its trust list
        workspace.create_party(tmp_path, party)
    with pytest.raises(ConnectorError) as caught:
        workspace.create_party(tmp_path, "tokyo-mobility")
    assert caught.value.code == "demo.not_published" and "jp.recognises-eu.jwt" in caught.value.reason
    ws = workspace.derived(tmp_path, "compose")
    asyncio.run(sign_recognition(tmp_path, ws.data, ws.authority("jp")))  # as authority-jp's container does
    folder = workspace.create_party(tmp_path, "tokyo-mobility")
    trust = tomllib.loads((folder / "node.toml").read_text())["trust"]
    named = trust["ca"] + trust["recognitions"] + [f for t in trust["lists"] for f in (t["file"], t["anchor"])]
    assert len(trust["recognitions"]) == 2 and all((folder / name).is_file() for name in named)


def test_each_party_made_as_its_container_makes_it_holds_its_own_keys_only(tmp_path):
    _authorities_up(tmp_path)  # the authorities first: they publish what organisations need
    for party in PARTIES[2:]:
        workspace.create_party(tmp_path, party)
    ws = workspace.derived(tmp_path, "compose")
    assert crossings(ws) == []
    held = held_keys(ws)
    assert {k.party for k in held} == set(PARTIES)
    assert not [k for k in held if k.party == "public"]
    for org in ws.data["organisations"]:
        config = tomllib.loads(ws.path(org["config"]).read_text())  # (its certificates come with enrolment)
        assert config["management"]["api_key_file"] == f"/run/secrets/{org['key']}-api-key"
        assert "api_key" not in config["management"] and "crl" not in config["trust"]
        assert config["node"]["participant_id"] == f"did:web:{org['key']}%3A8443"
        assert config["protocol"]["listen"] == "0.0.0.0:8443" and len(config["trust"]["lists"]) == 2
    # A key copied into another party's folder is found.
    berlin = ws.path(ws.organisation("berlin-energy")["dir"])
    (ws.path(ws.authority("eu")["dir"]) / "copied.pem").write_bytes((berlin / "identity" / "tls.key.pem").read_bytes())
    assert crossings(ws) and "authority-eu" in crossings(ws)[0] and "berlin-energy" in crossings(ws)[0]
