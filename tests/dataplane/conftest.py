"""Fixtures of the data-plane tests: a throw-away federation PKI and data folders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connector.sources import SourceContext

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class Authority:
    """A federation authority's root CA, able to issue participant signing certificates (and sub-CAs)."""

    def __init__(self, name: str = "Test Federation Root", *, parent: Authority | None = None) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(name)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(parent.name if parent else self.name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(days=365))
            .not_valid_after(NOW + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .sign(parent.key if parent else self.key, hashes.SHA256())
        )

    def issue_signing(
        self,
        did: str,
        *,
        digital_signature: bool = True,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        san: str | None = None,
        ca: bool = False,
        key: ec.EllipticCurvePrivateKey | None = None,
    ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = key or ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(did))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or NOW - timedelta(days=30))
            .not_valid_after(not_after or NOW + timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(san or did)]), critical=False)
            .add_extension(
                _usage(digital_signature=digital_signature, content_commitment=True, key_cert_sign=ca), critical=True
            )
        )
        if ca:
            builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        return key, builder.sign(self.key, hashes.SHA256())


def _usage(**flags: bool) -> x509.KeyUsage:
    names = (
        "digital_signature",
        "content_commitment",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    )
    return x509.KeyUsage(**{n: flags.get(n, False) for n in names})


@pytest.fixture(scope="session")
def authority() -> Authority:
    return Authority()


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    return root


@pytest.fixture
def context(data_root: Path, tmp_path: Path) -> SourceContext:
    return SourceContext(file_roots={"default": data_root}, environ={})


@pytest.fixture(scope="session")
def new_authority() -> type[Authority]:
    """Makes further, independent authorities (for an untrusted root)."""
    return Authority


@pytest.fixture
def now() -> datetime:
    return NOW
