"""The command line never surprises: documented exit statuses, mistakes that point at the right help, JSON
errors with --json, quiet broken pipes, keys that are never overwritten by accident."""

import json
import os
import subprocess
import sys

import pytest
from cli.kit import assert_one_line_error, run

from connector.cli import pki, processes
from connector.cli.base import EXIT_STATUSES


def test_help_documents_every_exit_status():
    shown = run("--help")
    assert shown.returncode == 0
    for line in ("0    done", "1    refused", "2    a mistake", "3    unreachable", "130  interrupted"):
        assert line in shown.stdout, shown.stdout
    assert '{"error": {"code": ..., "reason": ..., "where": ...}}' in shown.stdout
    assert EXIT_STATUSES.splitlines()[0] in shown.stdout


@pytest.mark.parametrize(
    ("argv", "help_of"),
    [
        (["negotiate", "--bogus"], "connector negotiate"),  # its required arguments are missing first
        (["negotiate", "peer", "offer", "--bogus"], "connector negotiate"),
        (["pki", "revoke", "--authority", "x", "--participant-id", "y", "--bogus"], "connector pki revoke"),
        (["evidence", "verify", "b.json", "--trust-list", "t.jws", "--bogus"], "connector evidence verify"),
        (["frobnicate"], "connector"),
    ],
)
def test_a_mistake_points_at_the_help_of_the_command_it_was_made_in(argv, help_of):
    result = run(*argv)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("connector: error: "), result.stderr
    assert lines[0].endswith(f"(see '{help_of} --help')"), lines[0]


def test_unknown_states_are_refused_with_the_valid_ones_listed():
    result = run("negotiations", "--state", "done", "--config", "unused.toml")
    assert result.returncode == 2
    assert "unknown state 'done'" in result.stderr
    assert ", ".join(processes.NEGOTIATION_STATES) in result.stderr
    result = run("transfers", "--state", "agreed", "--config", "unused.toml")
    assert result.returncode == 2 and ", ".join(processes.TRANSFER_STATES) in result.stderr
    for bad in (["--limit", "0"], ["--limit", "501"], ["--offset", "-1"], ["--offset", "x"]):
        result = run("transfers", *bad, "--config", "unused.toml")
        assert result.returncode == 2 and bad[0] in result.stderr, result.stderr


def test_the_states_are_the_protocols():
    from connector.dsp.vocabulary import NegotiationState, TransferState

    assert processes.NEGOTIATION_STATES == tuple(s.value for s in NegotiationState)
    assert processes.TRANSFER_STATES == tuple(s.value for s in TransferState)


def test_with_json_a_mistake_is_a_json_error_on_stdout_and_nothing_on_stderr(tmp_path):
    result = run("transfers", "--state", "done", "--json")
    assert result.returncode == 2 and result.stderr == ""
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "cli.usage" and "unknown state 'done'" in error["reason"]
    assert set(error) == {"code", "reason", "where"}
    missing = run("negotiations", "--json", "--config", str(tmp_path / "none.toml"))
    assert missing.returncode == 2 and missing.stderr == ""
    assert "none.toml" in json.loads(missing.stdout)["error"]["reason"]
    env = {k: v for k, v in os.environ.items() if k != "CONNECTOR_CONFIG"}
    unnamed = run("agreements", "--json", env=env)
    assert json.loads(unnamed.stdout) == {
        "error": {
            "code": "cli.no_config",
            "reason": "name the node's configuration: --config FILE (or set CONNECTOR_CONFIG)",
            "where": "--config",
        }
    }


def _read_by_nobody(*argv: str) -> tuple[int, str]:
    """`connector ... | head -2`, the reader gone before the command writes a byte."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    proc.stdout.close()
    err = proc.stderr.read()
    return proc.wait(timeout=30), err


def test_a_reader_that_goes_away_ends_the_command_quietly_with_its_own_status(tmp_path):
    assert _read_by_nobody("pki", "init-authority", "--dir", str(tmp_path / "auth")) == (0, "")
    assert (tmp_path / "auth" / "ca.cert.pem").exists()
    assert _read_by_nobody("completion", "bash") == (0, "")
    # A JSON error nobody reads still ends the command with the error's status.
    assert _read_by_nobody("agreements", "--json", "--config", str(tmp_path / "none.toml")) == (2, "")


def test_pki_issue_refuses_to_overwrite_private_keys_without_force(tmp_path):
    auth = tmp_path / "auth"
    assert run("pki", "init-authority", "--dir", str(auth)).returncode == 0
    issue = [
        "pki",
        "issue",
        "--authority",
        str(auth),
        "--participant-id",
        "did:web:localhost%3A8443:a",
        "--host",
        "localhost",
        "--out",
        str(tmp_path / "a"),
    ]
    assert run(*issue).returncode == 0, run(*issue)
    key = (tmp_path / "a" / "tls.key.pem").read_bytes()
    signing = (tmp_path / "a" / "signing.key.pem").read_bytes()
    again = run(*issue)
    assert again.returncode == 2
    assert "already holds a private key (tls.key.pem, signing.key.pem)" in again.stderr and "--force" in again.stderr
    assert again.stderr.strip().endswith("[--out]")
    assert (tmp_path / "a" / "tls.key.pem").read_bytes() == key
    assert (tmp_path / "a" / "signing.key.pem").read_bytes() == signing
    (tmp_path / "a" / "tls.key.pem").unlink()  # one key left is still a key to keep
    assert run(*issue).returncode == 2 and (tmp_path / "a" / "signing.key.pem").read_bytes() == signing
    forced = run(*issue, "--force")
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / "a" / "signing.key.pem").read_bytes() != signing


DEFAULT_CRL_URL = "https://localhost:8765/crl.pem"  # where an authority of the default public URL publishes it


def test_pki_revoke_says_when_running_nodes_see_it(tmp_path):
    auth = tmp_path / "auth"
    assert run("pki", "init-authority", "--dir", str(auth)).returncode == 0
    pid = "did:web:localhost%3A8443:a"
    out = str(tmp_path / "a")
    issued = run("pki", "issue", "--authority", str(auth), "--participant-id", pid, "--host", "h", "--out", out)
    assert issued.returncode == 0
    revoked = run("pki", "revoke", "--authority", str(auth), "--participant-id", pid)
    assert revoked.returncode == 0, revoked.stderr
    assert f"the certificates within trust.reload_interval (default 5 s) where nodes read {auth / 'crl.pem'}" in (
        revoked.stdout
    )
    assert f"within trust.crl_max_age (default 60 s) where they fetch it from {DEFAULT_CRL_URL}" in revoked.stdout
    assert "credentials" not in revoked.stdout.split("refuse it:")[1]  # it held none
    other = "did:web:localhost%3A9443:b"
    out = ["--out", str(tmp_path / "b")]
    issued = run("pki", "credential", "--authority", str(auth), "--participant-id", other, "--type", "membership", *out)
    assert issued.returncode == 0, issued.stderr
    again = run("pki", "revoke", "--authority", str(auth), "--participant-id", other, "--credentials-only")
    assert again.returncode == 0, again.stderr
    assert "the credentials within trust.status_max_age (default 60 s)" in again.stdout
    assert "certificates within" not in again.stdout


def test_the_command_line_knows_the_defaults_it_names():
    from connector.config import TrustSection
    from connector.pki.authority import DEFAULT_PUBLIC_URL

    assert pki.DEFAULT_PUBLIC_URL == DEFAULT_PUBLIC_URL
    assert pki.RELOAD_INTERVAL == TrustSection.__dataclass_fields__["reload_interval"].default
    assert pki.CRL_MAX_AGE == TrustSection.__dataclass_fields__["crl_max_age"].default
    assert pki.STATUS_MAX_AGE == TrustSection.__dataclass_fields__["status_max_age"].default


def test_pki_service_changes_a_status_and_names_a_bad_time(tmp_path):
    auth = tmp_path / "auth"
    assert run("pki", "init-authority", "--dir", str(auth)).returncode == 0
    changed = run("pki", "service", "--authority", str(auth), "--service", "tsa", "--status", "withdrawn")
    assert changed.returncode == 0 and "withdrawn from" in changed.stdout and "trust-list" in changed.stdout
    bad = run("pki", "service", "--authority", str(auth), "--service", "tsa", "--status", "granted", "--since", "soon")
    assert_one_line_error(bad, "--since", "soon")
    earlier = run(
        "pki",
        "service",
        "--authority",
        str(auth),
        "--service",
        "tsa",
        "--status",
        "granted",
        "--since",
        "2020-01-01T00:00Z",
    )
    assert_one_line_error(earlier, "--since", "later")
    listed = run("pki", "trust-list", "--authority", str(auth), "--out", str(tmp_path / "list.xml"))
    assert listed.returncode == 0 and "ETSI TS 119 612" in listed.stdout
    assert "Svcstatus/withdrawn" in (tmp_path / "list.xml").read_text()


def test_pki_credential_checks_a_registry_only_with_all_three_options(tmp_path):
    auth = tmp_path / "auth"
    assert run("pki", "init-authority", "--dir", str(auth)).returncode == 0
    pid = "did:web:localhost%3A8443:org-a"
    base = ["pki", "credential", "--authority", str(auth), "--participant-id", pid, "--type", "organization"]
    half = run(*base, "--registry", "lei", "--out", str(tmp_path / "org"))
    assert_one_line_error(half, "--registry-file", "--registry-id")
    missing = run(
        *base,
        "--registry",
        "lei",
        "--registry-file",
        str(tmp_path / "none.csv"),
        "--registry-id",
        "5493001KJTIIGC8Y1R12",
        "--out",
        str(tmp_path / "org"),
    )
    assert_one_line_error(missing, "registry file not found", "--registry-file")


def test_pki_recognise_names_what_is_wrong(tmp_path):
    auth = tmp_path / "auth"
    assert run("pki", "init-authority", "--dir", str(auth)).returncode == 0
    base = ["pki", "recognise", "--authority", str(auth), "--out", str(tmp_path / "s.jwt")]
    assert_one_line_error(
        run(*base, "--trust-list", str(tmp_path / "none.jws")), "trust list not found", "--trust-list"
    )
    own = tmp_path / "own.jws"
    assert run("pki", "trust-list", "--authority", str(auth), "--out", str(own)).returncode == 0
    assert_one_line_error(run(*base, "--trust-list", str(own)), "does not recognise itself")
    assert_one_line_error(run(*base, "--trust-list", str(own), "--accept", "=X"), "--accept")


@pytest.mark.parametrize(("kind", "noun"), [("assets", "an asset"), ("policies", "a policy"), ("offers", "an offer")])
def test_the_definition_commands_name_what_they_add_and_remove(kind, noun):
    assert f"add {noun}" in run(kind, "--help").stdout and f"remove {noun}" in run(kind, "--help").stdout
    assert f"Add {noun}," in run(kind, "add", "--help").stdout


def test_authority_serve_names_its_own_option_for_a_folder_without_an_authority(tmp_path):
    result = run("authority", "serve", "--dir", str(tmp_path / "none"))
    assert_one_line_error(result, "no authority in", "[--dir]")
