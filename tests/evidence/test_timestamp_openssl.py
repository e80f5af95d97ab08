"""Interoperability of the RFC 3161 code with OpenSSL's ``ts`` command, both directions."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms

from connector.evidence import timestamp as ts
from connector.evidence.errors import EvidenceError
from connector.keys import cert_pem, write_private_key

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="openssl command not available")

POLICY = "1.3.6.1.4.1.99999.1.1"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    return subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False)


@pytest.fixture(scope="module")
def tsa(fed: Any) -> tuple[Any, Any]:
    return ts.issue_tsa_certificate(fed.key, fed.root, "Federation A TSA", 30)


def test_openssl_query_answered_by_our_responder_verifies_in_openssl(tmp_path: Path, fed: Any, tsa: tuple) -> None:
    key, cert = tsa
    (tmp_path / "data.bin").write_bytes(b"evidence checkpoint")
    (tmp_path / "root.pem").write_bytes(cert_pem(fed.root))
    (tmp_path / "tsa.pem").write_bytes(cert_pem(cert))
    query = run("ts", "-query", "-data", "data.bin", "-sha256", "-cert", "-out", "req.tsq", cwd=tmp_path)
    assert query.returncode == 0, query.stderr

    request = (tmp_path / "req.tsq").read_bytes()
    now = datetime.now(UTC)
    response = ts.respond(request, key, cert, [fed.root], serial=1001, now=now, policy_oid=POLICY)
    (tmp_path / "resp.tsr").write_bytes(response)

    verify = run(
        "ts",
        "-verify",
        "-in",
        "resp.tsr",
        "-queryfile",
        "req.tsq",
        "-CAfile",
        "root.pem",
        "-untrusted",
        "tsa.pem",
        cwd=tmp_path,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "Verification: OK" in verify.stdout

    text = run("ts", "-reply", "-in", "resp.tsr", "-text", cwd=tmp_path)
    assert "Serial number: 0x03E9" in text.stdout and POLICY in text.stdout


def test_openssl_rejects_our_response_for_other_data(tmp_path: Path, fed: Any, tsa: tuple) -> None:
    key, cert = tsa
    (tmp_path / "root.pem").write_bytes(cert_pem(fed.root))
    (tmp_path / "other.bin").write_bytes(b"not what was stamped")
    request = ts.make_request(hashlib.sha256(b"stamped").digest(), 9)
    response = ts.respond(request, key, cert, [fed.root], serial=2, now=datetime.now(UTC), policy_oid=POLICY)
    (tmp_path / "resp.tsr").write_bytes(response)
    verify = run("ts", "-verify", "-in", "resp.tsr", "-data", "other.bin", "-CAfile", "root.pem", cwd=tmp_path)
    assert verify.returncode != 0
    assert "imprint" in verify.stderr


TSA_CONFIG = """
[ tsa ]
default_tsa = tsa_config1

[ tsa_config1 ]
dir = {dir}
serial = $dir/serial
crypto_device = builtin
signer_cert = $dir/tsa.pem
certs = $dir/root.pem
signer_key = $dir/tsa.key
signer_digest = sha256
default_policy = 1.2.3.4.1
other_policies = 1.2.3.4.5.6
digests = sha256, sha384, sha512
accuracy = secs:1, millisecs:500, microsecs:100
clock_precision_digits = 0
ordering = no
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = {ess}
"""


@pytest.mark.parametrize("ess", ["sha1", "sha256"], ids=["ess-v1", "ess-v2"])
def test_openssl_tsa_reply_verifies_with_our_client(tmp_path: Path, fed: Any, tsa: tuple, ess: str) -> None:
    key, cert = tsa
    write_private_key(tmp_path / "tsa.key", key)
    (tmp_path / "tsa.pem").write_bytes(cert_pem(cert))
    (tmp_path / "root.pem").write_bytes(cert_pem(fed.root))
    (tmp_path / "serial").write_text("0A\n")  # openssl increments it before use
    (tmp_path / "tsa.cnf").write_text(TSA_CONFIG.format(dir=tmp_path, ess=ess))

    digest = hashlib.sha256(b"agreement evidence").digest()
    nonce = ts.new_nonce()
    (tmp_path / "req.tsq").write_bytes(ts.make_request(digest, nonce))
    reply = run("ts", "-reply", "-config", "tsa.cnf", "-queryfile", "req.tsq", "-out", "resp.tsr", cwd=tmp_path)
    assert reply.returncode == 0, reply.stderr

    response = (tmp_path / "resp.tsr").read_bytes()
    result = ts.verify_response(response, digest, nonce, [fed.root], datetime.now(UTC))
    assert result.serial == 0x0B and result.policy == "1.2.3.4.1" and result.nonce == nonce
    assert result.tsa_cert == cert
    attrs = cms.ContentInfo.load(result.token)["content"]["signer_infos"][0]["signed_attrs"]
    expected_attr = "signing_certificate" if ess == "sha1" else "signing_certificate_v2"
    assert expected_attr in {a["type"].native for a in attrs}
    assert result.accuracy is not None and result.accuracy.total_seconds() == pytest.approx(1.5001)

    with pytest.raises(EvidenceError) as err:
        ts.verify_response(response, hashlib.sha256(b"other").digest(), nonce, [fed.root], datetime.now(UTC))
    assert err.value.code == "timestamp.imprint"
