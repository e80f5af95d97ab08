"""`connector config check`: a configuration validated without starting the node; the first problem named by
its key, exit status 2."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nodekit import make_participant, write_config

SEEDS = (
    """
[data]
root = "."

[regions]
nordics = ["DK", "FI", "NO", "SE"]

[[assets]]
id = "weather"
source = {type = "file", path = "weather.csv"}

[[policies]]
id = "nordic-members"
"""
    + 'policy = {permission = [{action = "use", constraint = [{leftOperand = "countryOfEstablishment", '
    + 'operator = "isAnyOf", rightOperand = "nordics"}]}]}'
    + """

[[offers]]
id = "weather-offer"
asset = "weather"
contract_policy = "nordic-members"
"""
)


def check(path: Path, *more: str):
    return subprocess.run(
        [sys.executable, "-m", "connector", "config", "check", "--config", str(path), *more],
        capture_output=True,
        text=True,
        timeout=60,
    )


def refused(path: Path, *fragments: str) -> str:
    result = check(path)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and result.stdout == "", result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def node(authority, tmp_path):
    p = make_participant(authority, tmp_path, "org-a")
    return p, write_config(p, tmp_path, extra=SEEDS)


def test_a_valid_configuration_is_one_line_and_exit_0(node):
    p, path = node
    result = check(path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and result.stderr == ""
    assert lines[0].startswith(f"{path}: valid: {p.participant_id}; 1 asset, 1 policy, 1 offer, 1 region, 0 peers; ")
    assert f"protocol on 127.0.0.1:{p.protocol_port}" in lines[0]
    as_json = json.loads(check(path, "--json").stdout)
    assert as_json["ok"] is True and as_json["offers"] == 1 and as_json["filesChecked"] == 6
    assert not (path.parent / "var-org-a").exists()  # nothing was started, nothing created


def test_a_bad_definition_is_named_by_its_key(node):
    _, path = node
    original = path.read_text()
    path.write_text(original.replace('operator = "isAnyOf"', 'operator = "near"'))
    refused(path, "[policies[0].policy.permission[0].constraint[0].operator]")
    path.write_text(original.replace('rightOperand = "nordics"', 'rightOperand = "atlantis"'))
    refused(path, "'atlantis' is neither", "[policies[0].policy.permission[0].constraint[0].rightOperand]")
    path.write_text(original.replace('nordics = ["DK"', 'nordics = ["dk"'))
    refused(path, "Region 'nordics' lists 'dk'", "[regions.")
    path.write_text(original.replace('contract_policy = "nordic-members"', ""))
    refused(path, "[offers[0]")


def test_a_file_asset_on_a_node_without_its_data_root_is_named(node):
    _, path = node
    original = path.read_text()
    path.write_text(original.replace('[data]\nroot = "."\n', ""))
    refused(path, "no data root named 'default' is configured", "set [data] root", "[assets[0].source.root]")
    path.write_text(original.replace('path = "weather.csv"}', 'path = "weather.csv", root = "archive"}'))
    refused(path, "no data root named 'archive'", "(configured: default)", "set [data] roots.archive")


def test_a_bad_setting_is_named_by_its_key(node):
    _, path = node
    path.write_text(path.read_text().replace('level = "warning"', 'level = "loud"'))
    refused(path, "[log.level]")


def test_missing_unreadable_and_mismatched_files_are_named_by_their_key(node, authority, tmp_path):
    p, path = node
    original = path.read_text()
    signing_cert = (p.dir / "signing.cert.pem").read_bytes()
    (p.dir / "signing.cert.pem").unlink()
    refused(path, "signing.cert.pem", "identity.signing_cert")

    shutil.copy(p.dir / "tls.cert.pem", p.dir / "signing.cert.pem")
    refused(path, "is not the key of identity.signing_cert", "[identity.signing_key]")
    (p.dir / "signing.cert.pem").write_bytes(signing_cert)

    other = make_participant(authority, tmp_path, "org-b")
    path.write_text(original.replace(str(p.dir / "tls.key.pem"), str(other.dir / "tls.key.pem")))
    refused(path, "is not the key of identity.tls_cert", "[identity.tls_key]")
    path.write_text(
        original.replace(str(p.dir / "tls.key.pem"), str(other.dir / "tls.key.pem")).replace(
            str(p.dir / "tls.cert.pem"), str(other.dir / "tls.cert.pem")
        )
    )
    refused(path, f"the TLS certificate names {other.participant_id}", "[identity.tls_cert]")

    path.write_text(original)
    (p.dir / "signing.cert.pem").write_text("not a certificate")
    refused(path, "is not what identity.signing_cert must hold", "[identity.signing_cert]")
    (p.dir / "signing.cert.pem").write_bytes(signing_cert)
    assert check(path).returncode == 0

    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    path.write_text(original.replace(str(authority.ca_cert_path), str(tmp_path / "ca.pem")))
    refused(path, "[trust.ca]")

    path.write_text(original.replace(str(authority.crl_path), str(authority.ca_cert_path)))
    refused(path, "is not what trust.crl must hold", "[trust.crl]")


def test_without_a_configuration_it_asks_for_one(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "connector", "config", "check"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2 and "--config FILE" in result.stderr
