"""The authority side: credentials, trust lists and revocation from the PKI commands, and the service that
publishes status lists, the CRL and the trust list."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from nodekit import cli, free_port
from trust_e2e.kit import utcnow

from connector.authority.service import AuthorityService
from connector.config import Listen
from connector.errors import ConnectorError
from connector.pki.authority import Authority
from connector.pki.credentials import issue_participant_credential, sign_status_list
from connector.pki.trust_list import issue_trust_list
from connector.trust.credentials import verify_credential
from connector.trust.status_list import check_status, verify_status_list
from connector.trust.trust_list import TrustStore, verify_trust_list

PID = "did:web:localhost%3A8443:org-a"


@pytest.fixture
def run(capsys):
    """The command line in-process (`connector ...` as `main` runs it): exit status, stdout, stderr."""
    from connector.cli.main import main

    def call(*args: str) -> subprocess.CompletedProcess:
        code = main(list(args))
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, captured.out, captured.err)

    return call


def one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture
def authority(tmp_path) -> Authority:
    return Authority.init(tmp_path / "auth", "Alpha Data Space", public_url=f"https://localhost:{free_port()}/alpha")


def _store(authority: Authority) -> TrustStore:
    return TrustStore((verify_trust_list(issue_trust_list(authority).token, authority.ca_cert(), utcnow()),))


def test_cli_issues_credentials_that_verify_against_the_federations_trust_list(tmp_path, run):
    auth = tmp_path / "auth"
    assert (
        run(
            "pki",
            "init-authority",
            "--dir",
            str(auth),
            "--name",
            "Alpha Data Space",
            "--public-url",
            "https://localhost:8765/alpha/",
        ).returncode
        == 0
    )
    r = run(
        "pki",
        "credential",
        "--authority",
        str(auth),
        "--participant-id",
        PID,
        "--type",
        "organization",
        "--country",
        "JP",
        "--name",
        "Org A KK",
        "--out",
        str(tmp_path / "a"),
    )
    assert r.returncode == 0, r.stderr
    r = run(
        "pki",
        "credential",
        "--authority",
        str(auth),
        "--participant-id",
        PID,
        "--type",
        "membership",
        "--out",
        str(tmp_path / "a"),
    )
    assert r.returncode == 0, r.stderr
    r = run("pki", "trust-list", "--authority", str(auth), "--out", str(tmp_path / "list.jws"), "--valid-days", "7")
    assert r.returncode == 0, r.stderr
    authority = Authority(auth)
    trust_list = verify_trust_list((tmp_path / "list.jws").read_text().strip(), authority.ca_cert(), utcnow())
    assert trust_list.federation_name == "Alpha Data Space" and trust_list.sequence == 1
    (issuer,) = trust_list.issuers
    assert issuer.did == "did:web:localhost%3A8765:alpha"  # the public URL's DID (its document is served there)
    assert issuer.status_list_prefixes == ("https://localhost:8765/alpha/status/",)
    assert timedelta(days=6) < trust_list.valid_until - utcnow() <= timedelta(days=7)
    store = TrustStore((trust_list,))
    org = verify_credential((tmp_path / "a" / "organization.credential.jwt").read_text().strip(), store, PID, utcnow())
    assert dict(org.subject) == {"id": PID, "legalName": "Org A KK", "countryOfEstablishment": "JP"}
    assert org.federation == "Alpha Data Space" and org.status is not None
    assert org.status.list_url == "https://localhost:8765/alpha/status/1"
    member = verify_credential((tmp_path / "a" / "membership.credential.jwt").read_text().strip(), store, PID, utcnow())
    assert member.subject["memberOf"] == authority.federation_id
    assert member.status.index != org.status.index


def test_cli_refuses_wrong_credential_options_and_an_http_public_url_in_one_line(tmp_path, run):
    auth = tmp_path / "auth"
    one_line_error(
        run("pki", "init-authority", "--dir", str(auth), "--public-url", "http://localhost:8765"),
        "https",
        "--public-url",
    )
    assert run("pki", "init-authority", "--dir", str(auth)).returncode == 0
    base = ["pki", "credential", "--authority", str(auth), "--participant-id", PID, "--out", str(tmp_path / "a")]
    one_line_error(run(*base, "--type", "organization", "--country", "JP"), "--name")
    one_line_error(run(*base, "--type", "organization", "--name", "X", "--country", "Japan"), "--country")
    one_line_error(run(*base, "--type", "membership", "--country", "JP"), "--country")
    one_line_error(run(*base, "--type", "passport"), "invalid choice")
    one_line_error(
        run(
            "pki",
            "credential",
            "--authority",
            str(auth),
            "--participant-id",
            "org-a",
            "--type",
            "membership",
            "--out",
            str(tmp_path / "a"),
        ),
        "--participant-id",
    )


def test_membership_keeps_member_since_and_a_revoked_participant_gets_no_new_credential(authority, tmp_path):
    first = issue_participant_credential(authority, PID, "membership", now=utcnow() - timedelta(days=400))
    later = issue_participant_credential(authority, PID, "membership")
    store = _store(authority)
    since = verify_credential(later.token, store, PID, utcnow()).subject["memberSince"]
    assert since == (utcnow() - timedelta(days=400)).date().isoformat()
    assert first.status.index != later.status.index
    authority.issue_participant(PID, ["localhost"], tmp_path / "org-a")
    authority.revoke(PID)
    with pytest.raises(ConnectorError) as err:
        issue_participant_credential(authority, PID, "membership")
    assert err.value.code == "pki.revoked_participant"


def test_trust_list_sequence_grows_with_each_list(authority):
    sequences = [issue_trust_list(authority).sequence for _ in range(3)]
    assert sequences == [1, 2, 3]
    assert Authority(authority.dir).meta["trust_list_sequence"] == 3


def test_revoking_sets_the_status_bits_of_exactly_the_participants_credentials(authority, tmp_path, run):
    other = "did:web:localhost%3A9443:org-b"
    mine = [
        issue_participant_credential(authority, PID, "membership"),
        issue_participant_credential(authority, PID, "organization", country="DE", name="A GmbH"),
    ]
    theirs = issue_participant_credential(authority, other, "membership")
    authority.issue_participant(PID, ["localhost"], tmp_path / "org-a")
    r = run("pki", "revoke", "--authority", str(authority.dir), "--participant-id", PID, "--credentials-only")
    assert r.returncode == 0 and "revoked 2 credential(s)" in r.stdout, r
    assert json.loads((authority.dir / "issued.json").read_text())["certificates"][0]["revoked"] is None
    store, now = _store(authority), utcnow()
    status = verify_status_list(
        sign_status_list(authority, "1", timedelta(minutes=5)),
        store,
        authority.issuer_id,
        authority.status_list_url("1"),
        now,
    )
    for issued in mine:
        with pytest.raises(ConnectorError) as err:
            check_status(issued.status, status)
        assert err.value.code == "credential.revoked"
    check_status(theirs.status, status)  # untouched
    r = run("pki", "revoke", "--authority", str(authority.dir), "--credential-id", theirs.id)
    assert r.returncode == 0, r
    status = verify_status_list(
        sign_status_list(authority, "1", timedelta(minutes=5)),
        store,
        authority.issuer_id,
        authority.status_list_url("1"),
        utcnow(),
    )
    with pytest.raises(ConnectorError):
        check_status(theirs.status, status)
    one_line_error(
        run("pki", "revoke", "--authority", str(authority.dir), "--credential-id", "urn:uuid:nope"), "never issued"
    )


async def test_the_service_publishes_status_lists_crl_and_trust_list_over_tls_and_follows_revocations(authority):
    issued = issue_participant_credential(authority, PID, "membership")
    issue_trust_list(authority)
    service = AuthorityService(authority.dir, status_validity=timedelta(seconds=120))
    port = int(authority.public_url.split(":")[2].split("/")[0])
    await service.start(Listen("127.0.0.1", port))
    try:
        ctx = ssl.create_default_context(cafile=str(authority.ca_cert_path))
        async with aiohttp.ClientSession() as session:

            async def fetch(path: str) -> tuple[int, str, str]:
                async with session.get(authority.public_url + path, ssl=ctx) as resp:
                    return resp.status, resp.content_type, await resp.text()

            status, kind, token = await fetch("/status/1")
            assert status == 200 and kind == "application/vc+jwt"
            store = _store(authority)
            listed = verify_status_list(token, store, authority.issuer_id, authority.status_list_url("1"), utcnow())
            assert listed.valid_until - utcnow() <= timedelta(seconds=120)
            check_status(issued.status, listed)
            assert (await fetch("/status/1"))[2] == token  # unchanged folder: the same signed list
            authority.revoke_credential(issued.id)
            revoked = verify_status_list(
                (await fetch("/status/1"))[2], store, authority.issuer_id, authority.status_list_url("1"), utcnow()
            )
            with pytest.raises(ConnectorError):
                check_status(issued.status, revoked)
            status, _, crl = await fetch("/crl.pem")
            assert status == 200 and crl.encode() == authority.crl_path.read_bytes()
            status, _, trust_list = await fetch("/trust-list.jws")
            assert status == 200 and verify_trust_list(trust_list.strip(), authority.ca_cert(), utcnow())
            assert (await fetch("/status/2"))[0] == 404 and (await fetch("/status/../ca.key.pem"))[0] == 404
    finally:
        await service.stop()


def test_authority_serve_runs_until_sigterm_and_refuses_a_port_in_use(authority, tmp_path):
    port = int(authority.public_url.split(":")[2].split("/")[0])
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "authority", "serve", "--dir", str(authority.dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ctx = ssl.create_default_context(cafile=str(authority.ca_cert_path))
        deadline = time.time() + 20
        import urllib.request

        while True:
            try:
                with urllib.request.urlopen(f"{authority.public_url}/health", context=ctx, timeout=1) as resp:
                    assert json.loads(resp.read())["issuer"] == authority.issuer_id
                    break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise AssertionError(proc.stderr.read() if proc.poll() is not None else "did not start") from None
                time.sleep(0.1)
        one_line_error(
            cli("authority", "serve", "--dir", str(authority.dir), "--listen", f"127.0.0.1:{port}"),
            "already in use",
            "--listen",
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err, err
    one_line_error(cli("authority", "serve", "--dir", str(Path(authority.dir) / "nowhere")), "init-authority")
