"""A tiny PKI for the evidence tests, built with `cryptography` directly.

Certificates are valid around the real current time (the openssl interoperability tests verify against the
system clock); tests that need a fixed instant use `Pki.now`. The seal tests have an authority of their own
(`authority`), built around the fixed instant `now`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from connector.evidence.signer import SigningIdentity
from connector.keys import PrivateKey, generate_key

NOW = datetime.now(UTC).replace(microsecond=123456)
SEAL_NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
DID_A = "did:web:localhost%3A8443:org-a"
DID_B = "did:web:localhost%3A8443:org-b"
DID_C = "did:web:localhost%3A8443:org-c"


def _usage(*names: str) -> x509.KeyUsage:
    flags = {
        n: n in names
        for n in (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
        )
    }
    return x509.KeyUsage(**flags, encipher_only=False, decipher_only=False)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    )


def build_cert(
    subject: str,
    key: PrivateKey,
    issuer_key: PrivateKey,
    issuer: x509.Certificate | None,
    *,
    ca: bool = False,
    path_length: int | None = None,
    uris: Iterable[str] = (),
    usages: tuple[str, ...] = ("digital_signature", "content_commitment"),
    eku: list[x509.ObjectIdentifier] | None = None,
    eku_critical: bool = True,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    extra: Iterable[tuple[x509.ExtensionType, bool]] = (),
) -> x509.Certificate:
    issuer_name = issuer.subject if issuer is not None else _name(subject)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - timedelta(days=1))
        .not_valid_after(not_after or NOW + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(_usage(*usages), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False
        )
    uris = list(uris)
    if uris:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(u) for u in uris]), critical=False
        )
    if eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=eku_critical)
    for ext, critical in extra:
        builder = builder.add_extension(ext, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256())


@dataclass
class Pki:
    """One federation authority: a root CA that issues signing and TSA certificates."""

    name: str
    key: PrivateKey = field(default_factory=generate_key)
    now: datetime = NOW

    def __post_init__(self) -> None:
        self.root = build_cert(
            f"{self.name} Root CA", self.key, self.key, None, ca=True, usages=("key_cert_sign", "crl_sign")
        )

    def identity(self, did: str, *, fragment: str = "sig-1", **options: object) -> SigningIdentity:
        key = generate_key()
        common_name = did.rsplit(":", 1)[-1]
        cert = build_cert(common_name, key, self.key, self.root, uris=[did], **options)  # type: ignore[arg-type]
        return SigningIdentity(did, f"{did}#{fragment}", key, cert, (self.root,))

    def tsa(self, **options: object) -> tuple[PrivateKey, x509.Certificate]:
        key = generate_key()
        options.setdefault("usages", ("digital_signature",))
        options.setdefault("eku", [ExtendedKeyUsageOID.TIME_STAMPING])
        cert = build_cert(f"{self.name} TSA", key, self.key, self.root, **options)  # type: ignore[arg-type]
        return key, cert


@pytest.fixture(scope="session")
def fed() -> Pki:
    return Pki("Federation A")


@pytest.fixture(scope="session")
def rogue() -> Pki:
    """An authority nobody trusts."""
    return Pki("Rogue")


@pytest.fixture(scope="session")
def org_a(fed: Pki) -> SigningIdentity:
    return fed.identity(DID_A)


@pytest.fixture(scope="session")
def org_b(fed: Pki) -> SigningIdentity:
    return fed.identity(DID_B)


@pytest.fixture(scope="session")
def org_c(fed: Pki) -> SigningIdentity:
    return fed.identity(DID_C)


@pytest.fixture(scope="session")
def build() -> object:
    """`build_cert`, for tests that need unusual certificates (test modules cannot import this conftest)."""
    return build_cert


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
            .not_valid_before(SEAL_NOW - timedelta(days=365))
            .not_valid_after(SEAL_NOW + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(_usage("key_cert_sign", "crl_sign"), critical=True)
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
        usages = ["content_commitment"]
        if digital_signature:
            usages.append("digital_signature")
        if ca:
            usages.append("key_cert_sign")
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(did))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or SEAL_NOW - timedelta(days=30))
            .not_valid_after(not_after or SEAL_NOW + timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(san or did)]), critical=False)
            .add_extension(_usage(*usages), critical=True)
        )
        if ca:
            builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        return key, builder.sign(self.key, hashes.SHA256())


@pytest.fixture(scope="session")
def authority() -> Authority:
    return Authority()


@pytest.fixture(scope="session")
def new_authority() -> type[Authority]:
    """Makes further, independent authorities (for an untrusted root)."""
    return Authority


@pytest.fixture
def now() -> datetime:
    return SEAL_NOW
