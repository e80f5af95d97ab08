"""The command line as users run it: one-line errors, exit status 2, no tracebacks."""

import pytest
from cli.kit import assert_one_line_error, run
from nodekit import cli_measured, make_participant, write_config


def test_wrong_usage_is_one_line_and_exit_2():
    assert_one_line_error(run("pki", "issue", "--authority", "x"), "required")
    assert_one_line_error(run("frobnicate"), "invalid choice")


def test_bad_configuration_names_the_key(authority, tmp_path):
    path = write_config(make_participant(authority, tmp_path, "org-a"), tmp_path)
    path.write_text(path.read_text().replace('level = "warning"', 'level = "shouty"'))
    assert_one_line_error(run("serve", "--config", str(path)), "log.level")


def test_missing_config_file_is_named(tmp_path):
    assert_one_line_error(run("serve", "--config", str(tmp_path / "none.toml")), "none.toml")


def test_pki_commands_work_from_the_command_line(tmp_path):
    auth = tmp_path / "auth"
    assert run("pki", "init-authority", "--dir", str(auth), "--name", "Fed").returncode == 0
    r = run(
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
        "--country",
        "JP",
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "a" / "tls.cert.pem").exists()
    assert (
        run("pki", "revoke", "--authority", str(auth), "--participant-id", "did:web:localhost%3A8443:a").returncode == 0
    )
    assert_one_line_error(
        run("pki", "revoke", "--authority", str(auth), "--participant-id", "did:web:localhost%3A8443:nobody"),
        "never issued",
    )


def test_a_bundle_nested_past_reading_is_a_usage_error_naming_it(tmp_path):
    bundle, trust_list = tmp_path / "deep.bundle.json", tmp_path / "federation.jws"
    bundle.write_text("[" * 100_000)
    trust_list.write_text("not read: the bundle is refused first")
    ran = run("evidence", "verify", str(bundle), "--trust-list", str(trust_list))
    assert_one_line_error(ran, "deep.bundle.json", "nests")


def test_a_definition_nested_past_reading_is_a_usage_error_naming_it(tmp_path):
    definition = tmp_path / "deep.policy.json"
    definition.write_text('{"a":' * 100_000)
    ran = run("policies", "add", str(definition), "--config", str(tmp_path / "not-read.toml"))
    assert_one_line_error(ran, "deep.policy.json", "nests")


@pytest.mark.parametrize("command", ["evidence verify", "pki recognise"])
def test_a_trust_list_file_larger_than_any_list_is_refused_unread(tmp_path, command):
    huge = tmp_path / "huge.trust-list.jws"
    with open(huge, "wb") as f:
        f.truncate(300_000_000)  # a sparse file: 300 MB to read, none of it on disk
    if command == "evidence verify":
        bundle = tmp_path / "bundle.json"
        bundle.write_text("{}")
        args = ["evidence", "verify", str(bundle), "--trust-list", str(huge)]
    else:
        authority = tmp_path / "authority"
        assert run("pki", "init-authority", "--dir", str(authority)).returncode == 0
        out = tmp_path / "recognition.jwt"
        args = ["pki", "recognise", "--authority", str(authority), "--out", str(out), "--trust-list", str(huge)]
        args += ["--accept", "MembershipCredential"]
    ran, peak = cli_measured(*args, folder=tmp_path)
    assert_one_line_error(ran, "huge.trust-list.jws", "larger than 16777216 bytes", "--trust-list")
    assert peak < 200_000_000, f"{peak} bytes taken to refuse it"
