"""Test fixtures for the trust package: a tiny PKI and a small federated world built on it.

Test modules cannot import each other here (pytest runs with importlib mode), so helpers are handed out as
fixtures: `pki` makes root CAs and leaves with a URI SAN, `world` is a federation with an authority (credential
issuer), two participants with DID documents, a signed trust list and a status list.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from connector.keys import PrivateKey, generate_key
from connector.trust.claims import MEMBERSHIP_CREDENTIAL, ORGANIZATION_CREDENTIAL
from connector.trust.credentials import StatusEntry, issue_membership_credential, issue_organization_credential
from connector.trust.did import DidDocument, DidKey, build_did_document, parse_did_document
from connector.trust.etsi import Provider, Scheme, build_etsi_list, sign_etsi_list
from connector.trust.services import CA_PKC, EAA, GRANTED, TSA, ServiceHistory, StatusChange, TrustService
from connector.trust.status_list import issue_status_list_credential
from connector.trust.trust_list import (
    TrustList,
    TrustStore,
    build_trust_list,
    sign_trust_list,
    trusted_issuer,
    verify_trust_list,
)

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


class Pki:
    """Root CAs and leaf certificates with a URI SAN, straight from `cryptography`."""

    @staticmethod
    def root(
        name: str, key: PrivateKey | None = None, not_before: datetime | None = None, days: int = 3650
    ) -> tuple[PrivateKey, x509.Certificate]:
        key = key or generate_key()
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        start = not_before or NOW - timedelta(days=30)
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=days))
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
            .sign(key, hashes.SHA256())
        )
        return key, cert

    @staticmethod
    def leaf(
        ca_key: PrivateKey,
        ca_cert: x509.Certificate,
        uri: str,
        key: PrivateKey | None = None,
        not_before: datetime | None = None,
        days: int = 365,
        digital_signature: bool = True,
    ) -> tuple[PrivateKey, x509.Certificate]:
        key = key or generate_key()
        start = not_before or NOW - timedelta(days=1)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, uri[-60:])]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=digital_signature,
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
        return key, cert


@dataclass
class Participant:
    did: str
    key: PrivateKey
    kid: str
    cert: x509.Certificate
    document_json: dict[str, Any]

    @property
    def document(self) -> DidDocument:
        return parse_did_document(self.document_json, self.did)


@dataclass
class World:
    """One federation ('alpha') with an authority that issues credentials and status lists, and two members."""

    pki: Pki
    root_key: PrivateKey
    root_cert: x509.Certificate
    authority_did: str
    issuer_key: PrivateKey
    issuer_kid: str
    status_url: str
    a: Participant
    b: Participant
    trust_list_jws: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def trust_list(self) -> TrustList:
        return verify_trust_list(self.trust_list_jws, self.root_cert, NOW)

    @property
    def store(self) -> TrustStore:
        return TrustStore((self.trust_list,))

    def participant(
        self, name: str, ca_key: PrivateKey | None = None, ca_cert: x509.Certificate | None = None
    ) -> Participant:
        did = f"did:web:localhost%3A8443:{name}"
        key, cert = self.pki.leaf(ca_key or self.root_key, ca_cert or self.root_cert, did)
        doc = build_did_document(
            did,
            [DidKey("key-1", key.public_key(), (cert, ca_cert or self.root_cert))],
            f"https://localhost:8443/{name}/cs",
            f"https://localhost:8443/{name}/dsp",
        )
        return Participant(did, key, f"{did}#key-1", cert, doc)

    def status(self, index: int = 7, purpose: str = "revocation") -> StatusEntry:
        return StatusEntry(purpose, index, self.status_url)

    def membership(
        self,
        holder: str,
        index: int = 7,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
        **kw: Any,
    ) -> str:
        return issue_membership_credential(
            kw.pop("key", self.issuer_key),
            kw.pop("kid", self.issuer_kid),
            kw.pop("issuer", self.authority_did),
            holder,
            "urn:dataspace:alpha",
            date(2024, 1, 15),
            valid_from or NOW - timedelta(days=10),
            valid_until or NOW + timedelta(days=365),
            kw.pop("status", self.status(index)),
        )

    def organization(self, holder: str, index: int = 8) -> str:
        return issue_organization_credential(
            self.issuer_key,
            self.issuer_kid,
            self.authority_did,
            holder,
            "Org A GmbH",
            "DE",
            NOW - timedelta(days=10),
            NOW + timedelta(days=365),
            self.status(index),
        )

    def status_list(self, revoked: tuple[int, ...] = (), **kw: Any) -> str:
        return issue_status_list_credential(
            kw.pop("key", self.issuer_key),
            kw.pop("kid", self.issuer_kid),
            kw.pop("issuer", self.authority_did),
            kw.pop("url", self.status_url),
            revoked,
            kw.pop("valid_from", NOW - timedelta(hours=1)),
            kw.pop("valid_until", NOW + timedelta(days=1)),
            **kw,
        )

    def sign_list(
        self,
        sequence: int = 1,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
        issuers: list[Any] | None = None,
        federation_id: str = "urn:federation:alpha",
        root: tuple[PrivateKey, x509.Certificate] | None = None,
    ) -> str:
        doc = build_trust_list(
            federation_id,
            "Alpha data space",
            sequence,
            NOW - timedelta(days=1),
            valid_from or NOW - timedelta(days=1),
            valid_until or NOW + timedelta(days=30),
            [self.root_cert],
            issuers if issuers is not None else [self.alpha_issuer()],
        )
        key, cert = root or (self.root_key, self.root_cert)
        return sign_trust_list(doc, key, cert)

    def etsi_list(
        self,
        issuer_history: tuple[StatusChange, ...] = (),
        tsa: tuple[x509.Certificate, tuple[StatusChange, ...]] | None = None,
        sequence: int = 1,
        issued: datetime | None = None,
        next_update: datetime | None = None,
    ) -> str:
        """This federation's list in the ETSI form: its CA and issuer (granted since a year ago unless
        `issuer_history` says otherwise), and a TSA when given."""
        since = (StatusChange(GRANTED, NOW - timedelta(days=365)),)
        services = [
            TrustService(CA_PKC, "Alpha root CA", "Alpha authority", (self.root_cert,), ServiceHistory.of(since)),
            TrustService(
                EAA,
                "Alpha issuer",
                "Alpha authority",
                (),
                ServiceHistory.of(issuer_history or since),
                self.authority_did,
            ),
        ]
        if tsa is not None:
            services.append(TrustService(TSA, "Alpha TSA", "Alpha authority", (tsa[0],), ServiceHistory.of(tsa[1])))
        scheme = Scheme(
            "Alpha data space",
            "Alpha: accredited services",
            "https://localhost:8443/authority",
            federation_id="urn:federation:alpha",
        )
        root = build_etsi_list(
            scheme,
            sequence,
            issued or NOW - timedelta(days=1),
            next_update or NOW + timedelta(days=30),
            [Provider("Alpha authority", "https://localhost:8443/authority", tuple(services))],
            [self.alpha_issuer()],
        )
        return sign_etsi_list(root, self.root_key, self.root_cert)

    def alpha_issuer(self, types: tuple[str, ...] = (MEMBERSHIP_CREDENTIAL, ORGANIZATION_CREDENTIAL)) -> Any:
        return trusted_issuer(
            self.authority_did,
            "Alpha authority",
            {self.issuer_kid: self.issuer_key},
            types,
            ["https://localhost:8443/authority/status/"],
        )


@pytest.fixture(scope="session")
def pki() -> Pki:
    return Pki()


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def world(pki: Pki) -> World:
    root_key, root_cert = pki.root("Alpha root CA")
    authority = "did:web:localhost%3A8443:authority"
    issuer_key = generate_key()
    w = World(
        pki=pki,
        root_key=root_key,
        root_cert=root_cert,
        authority_did=authority,
        issuer_key=issuer_key,
        issuer_kid=f"{authority}#vc-1",
        status_url="https://localhost:8443/authority/status/1",
        a=None,  # type: ignore[arg-type]
        b=None,  # type: ignore[arg-type]
    )
    w.a = w.participant("org-a")
    w.b = w.participant("org-b")
    w.trust_list_jws = w.sign_list()
    return w


@pytest.fixture
def other_key() -> ec.EllipticCurvePrivateKey:
    return generate_key()
