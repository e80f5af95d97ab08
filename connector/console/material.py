"""The node's own trust material: its certificates and the revocation lists it holds peers to (those its
configuration names, and those it fetched from the distribution points the authorities' certificates name), with
how long each stays good. Read from the files at each look (they are replaced on rotation and reloaded or fetched
again by the node), never written."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509

from connector import keys
from connector.config import Config
from connector.trust.edge.crls import fetched_crl_files


@dataclass(frozen=True)
class Material:
    what: str  # "TLS certificate", "signing certificate", "revocation list"
    subject: str  # who it is about (a certificate's subject, a CRL's issuer)
    valid_until: str | None  # ISO 8601; for a CRL, its next update
    problem: str | None = None  # unreadable


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat() if moment is not None else None


def _certificate(what: str, path: Path) -> Material:
    try:
        cert = keys.load_certificate(path)
    except (OSError, ValueError) as exc:
        return Material(what, str(path), None, f"unreadable: {exc}")
    return Material(what, cert.subject.rfc4514_string(), _iso(cert.not_valid_after_utc))


def _crl(path: Path) -> Material:
    try:
        crl = x509.load_pem_x509_crl(path.read_bytes())
    except (OSError, ValueError) as exc:
        return Material("revocation list", str(path), None, f"unreadable: {exc}")
    return Material("revocation list", crl.issuer.rfc4514_string(), _iso(crl.next_update_utc))


class OwnMaterial:
    def __init__(self, config: Config) -> None:
        ident = config.identity
        self.certificates = [
            (what, path)
            for what, path in (("TLS certificate", ident.tls_cert), ("signing certificate", ident.signing_cert))
            if path is not None
        ]
        self.crls = tuple(config.trust.crl)
        self.data_dir = config.node.data_dir

    def read(self) -> list[Material]:
        crls = self.crls + fetched_crl_files(self.data_dir)
        return [_certificate(what, path) for what, path in self.certificates] + [_crl(p) for p in crls]
