import json
import stat
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from connector import keys
from connector.errors import ConnectorError
from connector.pki.authority import Authority
from connector.pki.certificates import participant_id_of

PID = "did:web:localhost%3A8443:org-a"


def test_init_authority_writes_root_credential_key_and_crl_with_private_keys_0600(tmp_path):
    a = Authority.init(tmp_path / "auth", "Japan Data Space")
    for name in ("ca.key.pem", "credential.key.pem"):
        assert stat.S_IMODE((a.dir / name).stat().st_mode) == 0o600
    ca = a.ca_cert()
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert isinstance(keys.load_private_key(a.dir / "ca.key.pem").curve, type(a.credential_key().curve))
    assert not keys.same_public_key(a.ca_key(), a.credential_key()), "credential key must be separate"
    crl = x509.load_pem_x509_crl(a.crl_path.read_bytes())
    assert crl.is_signature_valid(ca.public_key()) and len(crl) == 0
    assert a.issuer_id == "did:web:japan-data-space"


def test_init_authority_refuses_to_overwrite_an_existing_one(tmp_path):
    Authority.init(tmp_path / "auth", "A")
    with pytest.raises(ConnectorError) as err:
        Authority.init(tmp_path / "auth", "A")
    assert err.value.code == "pki.exists"


def test_issue_creates_tls_cert_with_participant_uri_san_hosts_and_both_usages(authority, tmp_path):
    issued = authority.issue_participant(
        PID, ["localhost", "127.0.0.1"], tmp_path / "org-a", country="JP", organisation="Org A", valid_days=30
    )
    cert = keys.load_certificate(tmp_path / "org-a" / "tls.cert.pem")
    assert participant_id_of(cert) == PID
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku and ExtendedKeyUsageOID.CLIENT_AUTH in eku
    assert cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "JP"
    cert.verify_directly_issued_by(authority.ca_cert())
    days = (cert.not_valid_after_utc - datetime.now(UTC)).days
    assert 28 <= days <= 30
    assert stat.S_IMODE((tmp_path / "org-a" / "tls.key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "org-a" / "signing.key.pem").stat().st_mode) == 0o600
    info = json.loads((tmp_path / "org-a" / "participant.json").read_text())
    assert info["participant_id"] == PID and int(info["tls_serial"]) == issued.tls_serial


def test_issue_creates_a_separate_signing_key_certified_for_signatures_only(authority, tmp_path):
    authority.issue_participant(PID, ["localhost"], tmp_path / "org-a")
    signing = keys.load_certificate(tmp_path / "org-a" / "signing.cert.pem")
    tls = keys.load_certificate(tmp_path / "org-a" / "tls.cert.pem")
    assert participant_id_of(signing) == PID
    assert not keys.same_public_key(signing.public_key(), tls.public_key())
    usage = signing.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment and not usage.key_agreement


@pytest.mark.parametrize("pid", ["org-a", "did:key:z6Mk", "did:web:", "did:web:exa mple.com", "https://x"])
def test_issue_refuses_participant_ids_that_are_not_did_web(authority, tmp_path, pid):
    with pytest.raises(ConnectorError) as err:
        authority.issue_participant(pid, ["localhost"], tmp_path / "x")
    assert err.value.where == "--participant-id"


def test_issue_refuses_bad_country_and_bad_host(authority, tmp_path):
    with pytest.raises(ConnectorError) as err:
        authority.issue_participant(PID, ["localhost"], tmp_path / "x", country="Japan")
    assert err.value.where == "--country"
    with pytest.raises(ConnectorError) as err:
        authority.issue_participant(PID, ["bad host"], tmp_path / "x")
    assert err.value.where == "--host"


def test_revoke_lists_every_certificate_of_the_participant_in_a_newer_crl(authority, tmp_path):
    issued = authority.issue_participant(PID, ["localhost"], tmp_path / "org-a")
    other = authority.issue_participant("did:web:localhost%3A9443:org-b", ["localhost"], tmp_path / "org-b")
    before = x509.load_pem_x509_crl(authority.crl_path.read_bytes())
    revoked = authority.revoke(PID)
    assert set(revoked) == {issued.tls_serial, issued.signing_serial}
    crl = x509.load_pem_x509_crl(authority.crl_path.read_bytes())
    assert crl.is_signature_valid(authority.ca_cert().public_key())
    serials = {r.serial_number for r in crl}
    assert serials == {issued.tls_serial, issued.signing_serial}
    assert other.tls_serial not in serials
    number = lambda c: c.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number  # noqa: E731
    assert number(crl) > number(before)
    assert authority.revoke(PID) == []  # idempotent


def test_one_certificate_is_revoked_alone_by_its_serial_from_the_command_line(authority, tmp_path):
    """A rotation replaced a TLS certificate: the old one is revoked, the new one and the credentials stay valid."""
    import subprocess
    import sys

    old = authority.issue_participant(PID, ["localhost"], tmp_path / "org-a")
    new = authority.issue_participant(PID, ["localhost"], tmp_path / "org-a-next")
    command = [sys.executable, "-m", "connector", "pki", "revoke", "--authority", str(authority.dir)]
    ran = subprocess.run([*command, "--serial", f"{old.tls_serial:X}"], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert f"certificate {old.tls_serial:x} of {PID} revoked" in ran.stdout and "trust.crl_max_age" in ran.stdout
    crl = x509.load_pem_x509_crl(authority.crl_path.read_bytes())
    assert crl.is_signature_valid(authority.ca_cert().public_key())
    assert {r.serial_number for r in crl} == {old.tls_serial}
    assert new.tls_serial not in {r.serial_number for r in crl}
    again = subprocess.run([*command, "--serial", f"{old.tls_serial:x}"], capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "was already revoked" in again.stdout
    unknown = subprocess.run([*command, "--serial", "abc"], capture_output=True, text=True, timeout=60)
    assert unknown.returncode == 2 and "never issued a certificate with serial abc" in unknown.stderr
    bad = subprocess.run([*command, "--serial", "xyz"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "not a certificate serial" in bad.stderr


def test_revoke_of_an_unknown_participant_is_a_clear_error(authority):
    with pytest.raises(ConnectorError) as err:
        authority.revoke(PID)
    assert err.value.code == "pki.unknown_participant"


def test_opening_a_folder_without_authority_names_the_problem(tmp_path):
    with pytest.raises(ConnectorError) as err:
        Authority(tmp_path)
    assert "init-authority" in err.value.reason


def test_processes_writing_the_same_file_at_once_never_trip_over_each_other(tmp_path):
    """Replicas sharing a data folder keep the same fetched CRL at the same moment: every write succeeds, the file
    ends whole (one writer's bytes), and no temporary file is left behind."""
    import subprocess
    import sys

    target = tmp_path / "shared.pem"
    script = (
        "import sys\nfrom pathlib import Path\nfrom connector import keys\n"
        "for _ in range(100):\n    keys.write_public_file(Path(sys.argv[1]), bytes([int(sys.argv[2])]) * 65536)\n"
    )
    writers = [subprocess.Popen([sys.executable, "-c", script, str(target), str(n)]) for n in range(6)]
    assert [w.wait(timeout=120) for w in writers] == [0] * 6
    assert target.read_bytes() in {bytes([n]) * 65536 for n in range(6)}
    assert [p.name for p in tmp_path.iterdir()] == ["shared.pem"]
