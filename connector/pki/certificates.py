"""X.509 building blocks of the PKI: a root CA, participant TLS and signing certificates, certificate signing
requests, CRLs.

Participant certificates carry the participant id (a did:web DID) as their URI SAN: that one string is what
the TLS layer, the tokens and the signatures are all checked against. Every certificate an authority signs names
its CRL in a CRL Distribution Point (the authority's public URL), so that a node on another host fetches the
revocations of every authority it trusts over the network; the root names it too, so that a node that knows only
the root (from a trust list, or as its pinned anchor) knows where the root's revocations are published.

A participant makes its own keys and asks for certificates with signing requests (`make_request`); the authority
reads what a request asks for (`read_request`) and decides the extensions itself: a request proves possession of
its key, nothing more.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
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


def _distribution_point(builder: x509.CertificateBuilder, crl_url: str | None) -> x509.CertificateBuilder:
    if crl_url is None:
        return builder
    point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
    return builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)


def crl_url_of(cert: x509.Certificate) -> str | None:
    """The first https CRL Distribution Point a certificate names, if any."""
    try:
        points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    except x509.ExtensionNotFound:
        return None
    for point in points:
        for name in point.full_name or ():
            if isinstance(name, x509.UniformResourceIdentifier) and name.value.startswith("https://"):
                return str(name.value)
    return None


def make_root_ca(
    key: PrivateKey, name: str, valid_days: int = 3650, now: datetime | None = None, crl_url: str | None = None
) -> x509.Certificate:
    now = now or datetime.now(UTC)
    subject = _name(f"{name} Root CA", organisation=name)
    public = key.public_key()
    builder = (
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
    )
    return _distribution_point(builder, crl_url).sign(key, hashes.SHA256())


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
    crl_url: str | None = None,
) -> x509.CertificateBuilder:
    now = now or datetime.now(UTC)
    builder = (
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
    return _distribution_point(builder, crl_url)


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
    crl_url: str | None = None,
) -> x509.Certificate:
    """A certificate for both TLS server and client authentication, URI SAN = participant id."""
    subject = _name(hosts[0] if hosts else participant_id, organisation, country)
    sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(participant_id), *_host_names(hosts)]
    return (
        _leaf_builder(ca_key, ca_cert, public, subject, participant_id, valid_days, now, crl_url)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(_key_usage(signing=False), critical=True)
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
    crl_url: str | None = None,
) -> x509.Certificate:
    """A certificate binding the participant's signing key to its DID, for signatures verified offline."""
    subject = _name(f"{organisation or 'participant'} signing key", organisation, country)
    return (
        _leaf_builder(ca_key, ca_cert, public, subject, participant_id, valid_days, now, crl_url)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(participant_id)]), critical=False)
        .add_extension(_key_usage(signing=True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )


# What a signing request asks for: a TLS certificate (server and client) or a signing certificate.
TLS = "tls"
SIGNING = "signing"
KINDS = (TLS, SIGNING)


def _key_usage(signing: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=signing,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not signing,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def make_request(
    key: PrivateKey,
    participant_id: str,
    kind: str,
    hosts: Iterable[str] = (),
    organisation: str | None = None,
    country: str | None = None,
) -> x509.CertificateSigningRequest:
    """A certificate signing request for `kind` (TLS or SIGNING) naming the participant id as URI SAN (and, for
    TLS, the host names and addresses the node is reached at), signed by the key it asks a certificate for."""
    hosts = list(hosts)
    if kind == TLS:
        if not hosts:
            raise ConnectorError("pki.no_host", "at least one --host is needed", "--host")
        subject = _name(hosts[0], organisation, country)
        sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(participant_id), *_host_names(hosts)]
        usage: x509.ExtensionType = x509.ExtendedKeyUsage(
            [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        )
    elif kind == SIGNING:
        subject = _name(f"{organisation or 'participant'} signing key", organisation, country)
        sans = [x509.UniformResourceIdentifier(participant_id)]
        usage = _key_usage(signing=True)
    else:
        raise ConnectorError("pki.bad_request", f"unknown certificate kind {kind!r} (tls or signing)")
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(usage, critical=False)
        .sign(key, hashes.SHA256())
    )


@dataclass(frozen=True)
class CertificateRequest:
    """What a verified signing request asks for."""

    kind: str  # TLS or SIGNING
    participant_id: str
    hosts: tuple[str, ...]
    organisation: str | None
    country: str | None
    public_key: PublicKey
    pem: str

    @property
    def key_sha256(self) -> str:
        """Hex SHA-256 of the requested key (DER SubjectPublicKeyInfo): what an operator compares out of band."""
        der = self.public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return hashlib.sha256(der).hexdigest()


def _attribute(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


def read_request(data: bytes | str, where: str | None = "--csr") -> CertificateRequest:
    """Parse and check a PEM signing request: its signature (possession of the key), a P-256 key, exactly one
    did:web participant id, and what it asks for (TLS: serverAuth and clientAuth, with host names; signing:
    content commitment, no host names). Raises ConnectorError('pki.bad_request') naming the problem."""
    from connector.participant import is_participant_id

    raw = data.encode("ascii", "replace") if isinstance(data, str) else data

    def bad(why: str) -> ConnectorError:
        return ConnectorError("pki.bad_request", f"the certificate signing request {why}", where)

    try:
        csr = x509.load_pem_x509_csr(raw)
    except ValueError:
        raise bad("is not a PEM certificate signing request") from None
    try:
        if not csr.is_signature_valid:
            raise bad("is not signed by the key it names")
        public = csr.public_key()
    except UnsupportedAlgorithm:
        raise bad("names a key or signature algorithm that is not ECDSA P-256") from None
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, ec.SECP256R1):
        raise bad("names a key that is not ECDSA P-256")
    try:
        san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        raise bad("names no participant id (URI subject alternative name)") from None
    dids = [u for u in san.get_values_for_type(x509.UniformResourceIdentifier) if u.startswith("did:")]
    if len(dids) != 1 or not is_participant_id(dids[0]):
        raise bad("must name exactly one did:web participant id as URI subject alternative name")
    hosts = tuple(
        [str(v) for v in san.get_values_for_type(x509.DNSName)]
        + [str(v) for v in san.get_values_for_type(x509.IPAddress)]
    )
    try:
        eku = csr.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        eku = None
    if eku is not None and ExtendedKeyUsageOID.SERVER_AUTH in eku:
        if not hosts:
            raise bad("asks for a TLS certificate without any host name or address")
        kind = TLS
    else:
        if hosts:
            raise bad("names hosts but does not ask for TLS server authentication")
        kind = SIGNING
    country = _attribute(csr.subject, NameOID.COUNTRY_NAME)
    return CertificateRequest(
        kind,
        dids[0],
        hosts,
        _attribute(csr.subject, NameOID.ORGANIZATION_NAME),
        country,
        public,
        raw.decode("ascii", "replace").strip() + "\n",
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
