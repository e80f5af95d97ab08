"""An authority's folder on a full disk: `connector pki crl` and `pki revoke` stop with one line naming the file
that could not be written (not an unexpected OSError), and the same revocation run again once there is room puts
the certificates on the CRL. The folder is a small tmpfs in a mount namespace of the commands' own
(tests/mountns.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import mountns
import pytest
from cryptography import x509
from nodekit import cli_environment, make_participant

pytestmark = pytest.mark.skipif(not mountns.available(), reason="needs root and unshare for a mount namespace")

SCRIPT = """
cp -r "$AUTHORITY" "$DISK/authority" || exit 98
cat /dev/zero > "$DISK/filler" 2>/dev/null
"$PY" -m connector pki crl --authority "$DISK/authority"
echo "crl exit $?"
"$PY" -m connector pki revoke --authority "$DISK/authority" --participant-id "$PARTICIPANT"
echo "revoke exit $?"
rm "$DISK/filler"
"$PY" -m connector pki revoke --authority "$DISK/authority" --participant-id "$PARTICIPANT" >/dev/null
echo "again exit $?"
cp "$DISK/authority/crl.pem" "$KEEP"
"""


def test_an_authority_on_a_full_disk_says_which_file_and_a_revocation_run_again_lands(authority, tmp_path):
    member = make_participant(authority, tmp_path, "member")
    disk = tmp_path / "disk"
    disk.mkdir()
    env = cli_environment()
    env.update(
        DISK=str(disk),
        PY=sys.executable,
        AUTHORITY=str(authority.dir),
        PARTICIPANT=member.participant_id,
        KEEP=str(tmp_path / "crl.pem"),
    )
    ran = subprocess.run(mountns.in_small_disk(disk, "2m", SCRIPT), env=env, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran
    assert "crl exit 2" in ran.stdout and "revoke exit 2" in ran.stdout and "again exit 0" in ran.stdout, ran
    errors = ran.stderr.strip().splitlines()
    assert len(errors) == 2 and "Traceback" not in ran.stderr, ran.stderr
    inside = disk / "authority"
    assert errors[0].startswith(f"connector: error: no space left on the device that holds {inside}/"), errors
    assert errors[1] == f"connector: error: no space left on the device that holds {inside / 'issued.json'}", errors
    crl = x509.load_pem_x509_crl((tmp_path / "crl.pem").read_bytes())
    revoked = {entry.serial_number for entry in crl}
    certificate = x509.load_pem_x509_certificate(member.tls_cert.read_bytes())
    assert certificate.serial_number in revoked


ISSUE = """
cp -r "$AUTHORITY" "$DISK/authority" || exit 98
cat /dev/zero > "$DISK/filler" 2>/dev/null
"$PY" -m connector pki issue --authority "$DISK/authority" --participant-id "$PARTICIPANT" --host localhost \
  --out "$OUT"
echo "issue exit $?"
cp "$DISK/authority/issued.json" "$KEEP"
"""


def test_a_certificate_is_never_handed_out_without_being_in_the_ledger(authority, tmp_path):
    # The authority's disk is full, the participant's folder (elsewhere) has room.
    disk, out = tmp_path / "disk", tmp_path / "member"
    disk.mkdir()
    env = cli_environment()
    env.update(
        DISK=str(disk),
        PY=sys.executable,
        AUTHORITY=str(authority.dir),
        PARTICIPANT="did:web:member.example",
        OUT=str(out),
        KEEP=str(tmp_path / "issued.json"),
    )
    ran = subprocess.run(mountns.in_small_disk(disk, "2m", ISSUE), env=env, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0 and "issue exit 2" in ran.stdout, ran
    assert "no space left on the device that holds" in ran.stderr and "issued.json" in ran.stderr, ran.stderr
    ledger = {int(e["serial"]) for e in json.loads((tmp_path / "issued.json").read_text())["certificates"]}
    handed = [x509.load_pem_x509_certificate(p.read_bytes()) for p in out.glob("*.cert.pem") if p.name != "ca.cert.pem"]
    assert all(cert.serial_number in ledger for cert in handed), "a certificate the authority cannot revoke"
