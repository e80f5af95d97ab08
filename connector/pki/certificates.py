"""X.509 building blocks of the development PKI: a root CA, participant TLS and signing certificates, CRLs.

Participant certificates carry the participant id (a did:web DID) as their URI SAN: that one string is what
the TLS layer, the tokens and the signatures are all checked against.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from connector.errors import ConnectorError
from connector.keys import PrivateKey, PublicKey


def _name(common_name: str, organisation: str | None = None, country: str | None = None) -> x509.Name:
    attrs = []
    if country:
        attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, country))
    if organisation:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation[:64]))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]))
    return x509.Name(attrs)


def _serial() -> int:
    return x509.random_serial_number()


def make_root_ca(key: PrivateKey, name: str, valid_days: int = 3650, now: datetime | None = None) -> x509.Certificate:
    now = now or datetime.now(UTC)
    subject = _name(f"{name} Root CA", organisation=name)
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(_serial())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _host_names(hosts: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            if not host or any(c.isspace() for c in host) or "/" in host:
                raise ConnectorError(
                    "pki.bad_host", f"'{host}' is neither a host name nor an IP address", "--host"
                ) from None
            names.append(x509.DNSName(host))
    return names


def _leaf_builder(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    public: PublicKey,
    subject: x509.Name,
    participant_id: str,
    valid_days: int,
    now: datetime | None,
) -> x509.CertificateBuilder:
    now = now or datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(_serial())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )


def make_tls_certificate(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    public: PublicKey,
    participant_id: str,
    hosts: list[str],
    organisation: str | None,
    country: str | None,
    valid_days: int,
    now: datetime | None = None,
) -> x509.Certificate:
    """A certificate for both TLS server and client authentication, URI SAN = participant id."""
    subject = _name(hosts[0] if hosts else participant_id, organisation, country)
    sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(participant_id), *_host_names(hosts)]
    return (
        _leaf_builder(ca_key, ca_cert, public, subject, participant_id, valid_days, now)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def make_signing_certificate(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    public: PublicKey,
    participant_id: str,
    organisation: str | None,
    country: str | None,
    valid_days: int,
    now: datetime | None = None,
) -> x509.Certificate:
    """A certificate binding the participant's signing key to its DID, for signatures verified offline."""
    subject = _name(f"{organisation or 'participant'} signing key", organisation, country)
    return (
        _leaf_builder(ca_key, ca_cert, public, subject, participant_id, valid_days, now)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(participant_id)]), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )


def make_crl(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    revoked: Iterable[tuple[int, datetime]],
    number: int,
    valid_days: int = 30,
    now: datetime | None = None,
) -> x509.CertificateRevocationList:
    now = now or datetime.now(UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - timedelta(minutes=5))
        .next_update(now + timedelta(days=valid_days))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    for serial, when in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
        )
    return builder.sign(ca_key, hashes.SHA256())


def participant_ids(cert: x509.Certificate) -> list[str]:
    """The URI SANs of a certificate (participant ids are did:web URIs)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [u for u in san.get_values_for_type(x509.UniformResourceIdentifier)]


@functools.lru_cache(maxsize=1024)
def participant_id_of(cert: x509.Certificate) -> str | None:
    """The single did: URI SAN of a participant certificate, or None if it has none or several."""
    # Asked for the peer's certificate on every request and response; certificates are immutable values.
    dids = [u for u in participant_ids(cert) if u.startswith("did:")]
    return dids[0] if len(dids) == 1 else None
