"""A participant makes its own keys and signing requests; the authority signs requests and never sees a key."""

import json
import stat
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from connector import keys
from connector.errors import ConnectorError
from connector.free_port import free_port
from connector.pki import onboarding
from connector.pki.authority import Authority
from connector.pki.certificates import crl_url_of, participant_id_of, read_request
from connector.pki.requests import make_requests, read_requests

PID = "did:web:berlin.example%3A8443"


def test_request_writes_private_keys_0600_and_requests_that_name_the_participant(tmp_path):
    made = make_requests(tmp_path / "id", PID, ["berlin.example", "10.0.0.2"], "DE", "Berlin GmbH")
    for name in ("tls.key.pem", "signing.key.pem"):
        assert stat.S_IMODE((tmp_path / "id" / name).stat().st_mode) == 0o600
    tls, signing = read_requests(tmp_path / "id")
    assert (tls.kind, signing.kind) == ("tls", "signing")
    assert tls.participant_id == signing.participant_id == PID
    assert tls.hosts == ("berlin.example", "10.0.0.2") and signing.hosts == ()
    assert (tls.organisation, tls.country) == ("Berlin GmbH", "DE")
    assert made.key_sha256["tls"] == tls.key_sha256 != signing.key_sha256
    assert json.loads((tmp_path / "id" / "participant.json").read_text())["participant_id"] == PID


def test_the_authority_signs_requests_with_its_own_extensions_and_its_crl_distribution_point(tmp_path):
    authority = Authority.init(tmp_path / "auth", "EU", public_url="https://authority.example:8765")
    make_requests(tmp_path / "id", PID, ["berlin.example"], "DE", "Berlin GmbH")
    issued = authority.sign_requests(read_requests(tmp_path / "id"), valid_days=30)
    written = issued.write(tmp_path / "id")
    assert {p.name for p in written} == {"tls.cert.pem", "signing.cert.pem", "ca.cert.pem"}
    tls = keys.load_certificate(tmp_path / "id" / "tls.cert.pem")
    signing = keys.load_certificate(tmp_path / "id" / "signing.cert.pem")
    assert participant_id_of(tls) == participant_id_of(signing) == PID
    assert keys.same_public_key(tls.public_key(), keys.load_private_key(tmp_path / "id" / "tls.key.pem"))
    eku = tls.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku and ExtendedKeyUsageOID.CLIENT_AUTH in eku
    assert signing.extensions.get_extension_for_class(x509.KeyUsage).value.content_commitment
    for cert in (tls, signing, authority.ca_cert()):
        assert crl_url_of(cert) == "https://authority.example:8765/crl.pem"
    assert tls.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "DE"
    recorded = {e["serial"] for e in authority.ledger()}
    assert {str(tls.serial_number), str(signing.serial_number)} <= recorded
    assert sorted(p.name for p in authority.dir.glob("*.key.pem")) == ["ca.key.pem", "credential.key.pem"]


def _csr(key, sans, usage=None):
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if usage is not None:
        builder = builder.add_extension(usage, critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda: b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "not a PEM"),
        (lambda: _csr(ec.generate_private_key(ec.SECP384R1()), [x509.UniformResourceIdentifier(PID)]), "P-256"),
        (lambda: _csr(keys.generate_key(), []), "names no participant id"),
        (
            lambda: _csr(
                keys.generate_key(),
                [x509.UniformResourceIdentifier(PID), x509.UniformResourceIdentifier("did:web:other.example")],
            ),
            "exactly one",
        ),
        (
            lambda: _csr(
                keys.generate_key(),
                [x509.UniformResourceIdentifier(PID)],
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
            ),
            "without any host",
        ),
        (
            lambda: _csr(keys.generate_key(), [x509.UniformResourceIdentifier(PID), x509.DNSName("berlin.example")]),
            "names hosts",
        ),
    ],
)
def test_a_request_that_is_not_what_it_must_be_is_refused_with_its_reason(make, fragment):
    with pytest.raises(ConnectorError) as err:
        read_request(make())
    assert err.value.code == "pki.bad_request" and fragment in err.value.reason


def test_a_request_whose_signature_does_not_hold_is_refused(tmp_path):
    make_requests(tmp_path / "id", PID, ["berlin.example"])
    good = x509.load_pem_x509_csr((tmp_path / "id" / "tls.csr.pem").read_bytes())
    der = bytearray(good.public_bytes(serialization.Encoding.DER))
    der[-3] ^= 0x55  # inside the signature
    with pytest.raises(ConnectorError) as err:
        read_request(x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM))
    assert "not signed by the key" in err.value.reason


def test_a_request_for_a_key_of_an_unknown_algorithm_is_refused(tmp_path):
    make_requests(tmp_path / "id", PID, ["berlin.example"])
    request = x509.load_pem_x509_csr((tmp_path / "id" / "tls.csr.pem").read_bytes())
    der = request.public_bytes(serialization.Encoding.DER)
    ec_public_key = bytes.fromhex("06072a8648ce3d0201")  # the OID id-ecPublicKey, as DER
    unknown = der.replace(ec_public_key, ec_public_key[:-1] + b"\x09", 1)  # 1.2.840.10045.2.9: no algorithm
    assert unknown != der
    pem = x509.load_der_x509_csr(unknown).public_bytes(serialization.Encoding.PEM)
    with pytest.raises(ConnectorError) as err:
        read_request(pem)
    assert err.value.code == "pki.bad_request" and "algorithm" in err.value.reason, err.value.reason


def test_requests_of_two_participants_are_not_signed_together(tmp_path):
    authority = Authority.init(tmp_path / "auth", "EU")
    make_requests(tmp_path / "a", PID, ["a.example"])
    make_requests(tmp_path / "b", "did:web:other.example", ["b.example"])
    with pytest.raises(ConnectorError) as err:
        authority.sign_requests([read_requests(tmp_path / "a")[0], read_requests(tmp_path / "b")[1]])
    assert "different participant" in err.value.reason


def test_onboarding_grants_the_first_enrolment_and_pinned_keys_but_not_a_second_unpinned_one(tmp_path):
    authority = Authority.init(tmp_path / "auth", "EU")
    pems = lambda folder: [r.pem for r in read_requests(folder)]  # noqa: E731
    make_requests(tmp_path / "a", PID, ["a.example"], "DE", "A GmbH")
    assert onboarding.submit_certificates(authority, pems(tmp_path / "a"))["status"] == "RECEIVED"
    onboarding.onboard(authority, PID, "A GmbH", "DE")
    first = onboarding.submit_certificates(authority, pems(tmp_path / "a"))
    assert first["status"] == "ISSUED" and "tls.cert.pem" in first["certificates"]
    make_requests(tmp_path / "b", PID, ["a.example"])
    assert onboarding.submit_certificates(authority, pems(tmp_path / "b"))["status"] == "RECEIVED"
    pins = [r.key_sha256 for r in read_requests(tmp_path / "b")]
    onboarding.onboard(authority, PID, "A GmbH", "DE", pins)
    assert onboarding.submit_certificates(authority, pems(tmp_path / "b"))["status"] == "ISSUED"
    authority.revoke(PID)
    assert onboarding.submit_certificates(authority, pems(tmp_path / "b"))["status"] == "RECEIVED"


def test_the_command_line_makes_requests_and_signs_them_without_a_private_key_crossing(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "connector", *args], capture_output=True, text=True, timeout=60)

    assert run("pki", "init-authority", "--dir", str(tmp_path / "auth"), "--name", "EU").returncode == 0
    made = run("pki", "request", "--participant-id", PID, "--host", "berlin.example", "--out", str(tmp_path / "id"))
    assert made.returncode == 0, made.stderr
    again = run("pki", "request", "--participant-id", PID, "--host", "berlin.example", "--out", str(tmp_path / "id"))
    assert again.returncode == 2 and "--force" in again.stderr
    csrs = [str(tmp_path / "id" / n) for n in ("tls.csr.pem", "signing.csr.pem")]
    out = tmp_path / "issued"
    signed = run(
        "pki", "issue", "--authority", str(tmp_path / "auth"), "--csr", csrs[0], "--csr", csrs[1], "--out", str(out)
    )
    assert signed.returncode == 0, signed.stderr
    assert sorted(p.name for p in out.iterdir()) == ["ca.cert.pem", "signing.cert.pem", "tls.cert.pem"]
    mixed = run(
        "pki", "issue", "--authority", str(tmp_path / "auth"), "--csr", csrs[0], "--host", "x", "--out", str(out)
    )
    assert mixed.returncode == 2 and "--host" in mixed.stderr
    neither = run("pki", "issue", "--authority", str(tmp_path / "auth"), "--out", str(out))
    assert neither.returncode == 2 and "--csr" in neither.stderr


def test_the_keys_digests_the_command_line_prints_are_what_an_operator_pins(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "connector", *args], capture_output=True, text=True, timeout=60)

    assert run("pki", "init-authority", "--dir", str(tmp_path / "auth"), "--name", "EU").returncode == 0
    made = run("pki", "request", "--participant-id", PID, "--host", "berlin.example", "--out", str(tmp_path / "id"))
    assert made.returncode == 0, made.stderr
    printed = [line.split()[-1] for line in made.stdout.splitlines() if "key sha256" in line]
    assert printed == [r.key_sha256 for r in read_requests(tmp_path / "id")]
    pins = [arg for digest in printed for arg in ("--key-sha256", digest)]
    onboarded = run("pki", "onboard", "--authority", str(tmp_path / "auth"), "--participant-id", PID, *pins)
    assert onboarded.returncode == 0, onboarded.stderr
    record = json.loads((tmp_path / "auth" / onboarding.ONBOARDING_FILE).read_text())
    assert sorted(record["participants"][0]["key_pins"]) == sorted(printed)


def test_enrolling_with_an_authority_that_does_not_answer_says_so_in_words(tmp_path):
    def run(*args):
        return subprocess.run([sys.executable, "-m", "connector", *args], capture_output=True, text=True, timeout=60)

    assert run("pki", "init-authority", "--dir", str(tmp_path / "auth"), "--name", "EU").returncode == 0
    made = run("pki", "request", "--participant-id", PID, "--host", "berlin.example", "--out", str(tmp_path / "id"))
    assert made.returncode == 0, made.stderr
    port = free_port()  # nothing listens there
    anchor = str(tmp_path / "auth" / "ca.cert.pem")
    url = f"https://127.0.0.1:{port}"
    enrolled = run("pki", "enrol", "--authority-url", url, "--anchor", anchor, "--identity", str(tmp_path / "id"))
    assert enrolled.returncode == 3, enrolled.stderr
    line = enrolled.stderr.strip()
    assert line.startswith(f"connector: unreachable: cannot reach the authority at {url}/enrolment: "), line
    assert "object at 0x" not in line and "SSLContext" not in line, line
