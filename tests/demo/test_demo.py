"""The demo as people meet it: `connector demo` runs the whole story and says so; the compose profile's workspace
is complete and every configuration in it loads."""

import json
import signal
import subprocess
import sys
import tomllib
import urllib.request

from connector.demo import workspace
from connector.demo.audit import crossings


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
    assert result.stdout.count("certificates written") == 3 and result.stdout.count("and stored") == 3
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
    assert crossings(workspace.Workspace.load(tmp_path / "ws")) == []  # each party still holds only its own keys
    # The story changed the data space for good (Lyon revoked, data received): it is not told there a second time.
    again = subprocess.run(
        [sys.executable, "-m", "connector", "demo", "run", "--workdir", str(tmp_path / "ws")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 2 and again.stdout == "", again.stdout + again.stderr
    assert again.stderr.startswith("connector: error: the story was told in "), again.stderr
    assert "run 'connector demo' for a new one" in again.stderr and again.stderr.endswith("[--workdir]\n")


def test_a_local_workspace_gives_each_party_its_own_keys_and_no_certificate_before_enrolment(tmp_path):
    ws = workspace.create(tmp_path / "local", "local")
    assert crossings(ws) == []
    for org in ws.data["organisations"]:
        folder = ws.path(org["dir"])
        assert (folder / "identity" / "tls.csr.pem").exists() and not (folder / "identity" / "tls.cert.pem").exists()
        assert not list(folder.glob("identity/*.credential.jwt"))
        config = tomllib.loads(ws.path(org["config"]).read_text())  # (its certificates come with enrolment)
        assert config["management"]["api_key_file"] == "api-key" and "api_key" not in config["management"]
        assert "crl" not in config["trust"] and len(config["trust"]["lists"]) == 2
        assert oct((folder / "api-key").stat().st_mode & 0o777) == "0o600"
    for authority in ws.data["authorities"]:
        onboarded = json.loads((ws.path(authority["dir"]) / "onboarding.json").read_text())["participants"]
        members = {o["participantId"] for o in ws.data["organisations"] if o["federation"] == authority["key"]}
        assert {p["participant_id"] for p in onboarded} == members


def test_the_hosts_profile_names_each_party_by_its_host_and_runs_its_commands_there(tmp_path):
    hosts = {
        party: {"host": f"{party}.test", "address": f"10.9.0.{i + 2}", "run": ["env", f"PARTY={party}"]}
        for i, party in enumerate(["authority-jp", "authority-eu", "tokyo-mobility", "berlin-energy", "lyon-health"])
    }
    ws = workspace.create(tmp_path / "hosts", "hosts", hosts)
    tokyo = ws.organisation("tokyo-mobility")
    assert tokyo["participantId"] == "did:web:tokyo-mobility.test%3A8443"
    assert tokyo["management"] == "http://10.9.0.4:8181" and tokyo["run"] == ["env", "PARTY=tokyo-mobility"]
    assert ws.authority("eu")["publicUrl"] == "https://authority-eu.test:8765"
    config = tomllib.loads(ws.path(tokyo["config"]).read_text())
    assert config["protocol"]["listen"] == "10.9.0.4:8443" and config["management"]["allow_plain_http_remote"]
    assert config["trust"]["lists"][1]["url"] == "https://authority-eu.test:8765/trust-list.xml"


def test_a_running_data_space_says_where_each_organisations_console_is(tmp_path):
    ws = tmp_path / "ws"
    made = subprocess.run([sys.executable, "-m", "connector", "demo", "init", "--workdir", str(ws)], timeout=120)
    assert made.returncode == 0
    up = subprocess.Popen(
        [sys.executable, "-m", "connector", "demo", "up", "--workdir", str(ws)], stdout=subprocess.PIPE, text=True
    )
    told: list[str] = []
    try:
        assert up.stdout is not None
        for line in up.stdout:
            told.append(line)
            if "press Ctrl-C" in line:
                break
        described = workspace.Workspace.load(ws)
        for org in described.data["organisations"]:
            url = org["management"] + "/console/"
            key = described.path(org["apiKeyFile"])
            assert any(url in line and str(key) in line for line in told), (url, "".join(told))
            with urllib.request.urlopen(url + "login", timeout=10) as page:
                assert page.status == 200 and "Sign in" in page.read().decode()
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(timeout=60)
