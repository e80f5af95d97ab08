"""A participant's side of enrolment: its own keys and the certificate signing requests it sends its authority.

`connector pki request` writes into the node's identity folder::

    tls.key.pem        the TLS private key (0600), made here and never sent anywhere
    tls.csr.pem        its signing request: the participant id (URI SAN), the hosts, the organisation
    signing.key.pem    the signing private key (0600)
    signing.csr.pem    its signing request: the participant id
    participant.json   what was asked (participant id, hosts, organisation, country): no secret

The authority answers with certificates only (``tls.cert.pem``, ``signing.cert.pem``, ``ca.cert.pem``), by
`connector pki enrol` over the network or `connector pki issue --csr` by its operator.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from connector import keys
from connector.errors import ConnectorError
from connector.pki import certificates

REQUEST_FILES = {certificates.TLS: "tls.csr.pem", certificates.SIGNING: "signing.csr.pem"}
KEY_FILES = {certificates.TLS: "tls.key.pem", certificates.SIGNING: "signing.key.pem"}
PARTICIPANT_FILE = "participant.json"


@dataclass(frozen=True)
class MadeRequests:
    participant_id: str
    requests: dict[str, Path]  # kind -> request file
    key_sha256: dict[str, str]  # kind -> SHA-256 of the requested public key (what an operator may compare)


def make_requests(
    out: Path, participant_id: str, hosts: list[str], country: str | None = None, name: str | None = None
) -> MadeRequests:
    """Make both keys and both requests in `out` (existing keys are replaced: the caller checks first)."""
    from connector.participant import check_participant_id

    check_participant_id(participant_id, where="--participant-id")
    if country is not None and not re.fullmatch(r"[A-Z]{2}", country):
        raise ConnectorError(
            "pki.bad_country",
            f"'{country}' is not an ISO 3166-1 alpha-2 country code (two capital letters, e.g. JP, DE)",
            "--country",
        )
    out = Path(out)
    made: dict[str, tuple[keys.PrivateKey, bytes]] = {}
    for kind in certificates.KINDS:
        key = keys.generate_key()
        csr = certificates.make_request(
            key, participant_id, kind, hosts if kind == certificates.TLS else (), name, country
        )
        made[kind] = (key, csr.public_bytes(serialization.Encoding.PEM))
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    fingerprints: dict[str, str] = {}
    for kind, (key, pem) in made.items():
        keys.write_private_key(out / KEY_FILES[kind], key)
        keys.write_public_file(out / REQUEST_FILES[kind], pem)
        paths[kind] = out / REQUEST_FILES[kind]
        fingerprints[kind] = certificates.read_request(pem).key_sha256
    info = {"participant_id": participant_id, "hosts": hosts, "organisation": name, "country": country}
    keys.write_public_file(out / PARTICIPANT_FILE, (json.dumps(info, indent=2, sort_keys=True) + "\n").encode())
    return MadeRequests(participant_id, paths, fingerprints)


def read_requests(identity: Path) -> list[certificates.CertificateRequest]:
    """The signing requests in an identity folder, checked (both must be there)."""
    found = []
    for kind, name in REQUEST_FILES.items():
        path = Path(identity) / name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ConnectorError(
                "pki.no_request", f"{path} is missing (make it with 'connector pki request')", "--identity"
            ) from None
        request = certificates.read_request(data, str(path))
        if request.kind != kind:
            raise ConnectorError("pki.bad_request", f"{path} does not ask for a {kind} certificate", "--identity")
        found.append(request)
    return found


def matches_own_keys(identity: Path, issued: dict[str, str]) -> None:
    """Refuse certificates (PEM by file name) that do not hold the keys in `identity`: a mix-up or a substitution
    is caught before a file is written."""
    from cryptography import x509

    for kind, key_file in KEY_FILES.items():
        pem = issued.get(f"{kind}.cert.pem")
        if pem is None:
            raise ConnectorError("pki.enrol_incomplete", f"the authority sent no {kind} certificate")
        cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
        if not keys.same_public_key(cert.public_key(), keys.load_private_key(Path(identity) / key_file)):  # type: ignore[arg-type]
            raise ConnectorError(
                "pki.enrol_mismatch", f"the {kind} certificate the authority sent does not hold this node's key"
            )
