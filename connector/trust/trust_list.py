"""Trust lists: which CAs, credential issuers and time-stamp authorities a federation vouches for.

A trust list is a JSON document signed by its federation authority's root key as a compact JWS whose header
carries ``x5c`` = [root CA certificate]. A node pins each federation's root certificate out of band and accepts a
list only if that header certificate is byte-for-byte the pinned anchor and the signature verifies with it (by
the algorithm of the anchor's key type). Issuer keys on a list are public JWKs of any type the verifier handles
(EC P-256/P-384, Ed25519, RSA of at least 2048 bits); credentials and status lists are checked with them.

Document (members in camelCase, times as dateTimeStamp)::

    {"type": "TrustList", "version": 1,
     "federation": {"id": "...", "name": "..."},
     "sequence": 7, "issued": "...", "validFrom": "...", "validUntil": "...",
     "tlsCaCertificates": ["-----BEGIN CERTIFICATE-----..."],
     "issuers": [{"did": "did:web:...", "name": "...",
                  "keys": [{"kid": "did:web:...#vc-1", "kty": "EC", "crv": "P-256", "x": "...", "y": "..."}],
                  "credentialTypes": ["MembershipCredential"],
                  "statusListPrefixes": ["https://.../status/"]}],
     "timestampAuthorities": ["-----BEGIN CERTIFICATE-----..."],
     "requireClientCertificate": true}

``requireClientCertificate`` (optional, false when absent) says that the federation's members authenticate with
a client certificate from one of its CAs even towards nodes that accept peers without one: a caller whose
credentials come from an issuer of such a list is refused when it presents no certificate. Nodes that predate
the member ignore it, and they require certificates anyway.

The JWS payload is the RFC 8785 canonical form of the document; a payload in any other form is refused, so the
document hash is the same for every holder of the list.

Checks and codes: ``trust_list.malformed``, ``trust_list.unsigned``, ``trust_list.algorithm``,
``trust_list.anchor`` (header certificate is not the pinned anchor), ``trust_list.anchor_invalid`` (the pinned
anchor itself is expired or unusable), ``trust_list.signature``, ``trust_list.expired``,
``trust_list.not_yet_valid``; when choosing between copies: ``trust_list.federation_mismatch``,
``trust_list.rollback``, ``trust_list.equivocation``.

Combining lists (``TrustStore``): lists of different federations add up - CA and TSA certificates are the union,
an issuer named by one list is trusted as that list says. When several lists name the same issuer DID they must
all agree for anything to be accepted, the stricter reading winning each time: a credential type is allowed only
if every list naming the issuer allows it; a key only if every such list carries that kid with the identical JWK;
a status-list URL only if it falls under a prefix in every such list. Two lists of the same federation cannot be
combined (choose one with ``choose_copy``).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeGuard

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import Encoding

from connector import jws
from connector.canonical import b64url, canonical_bytes, sha256_hex
from connector.errors import ConnectorError, Problem
from connector.keys import (
    PrivateKey,
    SigningKey,
    VerifyingKey,
    cert_der_b64,
    cert_pem,
    cert_sha256,
    public_jwk,
    same_public_key,
    verifying_key_from_jwk,
)
from connector.trust.compact import parse_jwt, verify_signature
from connector.trust.did import parse_did, split_did_url
from connector.trust.services import (
    ALWAYS,
    CA_PKC,
    EAA,
    KIND_CA,
    KIND_TSA,
    TSA,
    ServiceHistory,
    TrustService,
)
from connector.trust.times import format_datetime, parse_datetime, require_aware

TRUST_LIST_TYPE = "TrustList"
TRUST_LIST_VERSION = 1
TRUST_LIST_TYP = "trust-list+jws"
MAX_TRUST_LIST_LENGTH = 2 * 1024 * 1024
# Either form of a signed list, as a file: etsi.MAX_ETSI_LIST_LENGTH, the larger bound, without loading the XML
# libraries that module needs.
MAX_LIST_FILE_BYTES = 16 * 1024 * 1024
_URL_SEGMENT = re.compile(r"^[A-Za-z0-9._~-]+$")
_PEM = re.compile(r"^-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\r?\n?$")


@dataclass(frozen=True)
class TrustedIssuer:
    """One credential issuer as one trust list describes it."""

    did: str
    name: str
    keys: Mapping[str, Mapping[str, Any]]  # kid -> public JWK (with "kid")
    credential_types: frozenset[str]
    status_list_prefixes: tuple[str, ...]
    # The issuer service's status over time (an ETSI list); empty: approved throughout (a JSON list).
    history: ServiceHistory = ALWAYS

    def key(self, kid: str) -> VerifyingKey:
        jwk = self.keys.get(kid)
        if jwk is None:
            raise ConnectorError(
                "trust.issuer_key_unknown", f"issuer {self.did} has no key {kid!r} on its trust list", kid
            )
        return verifying_key_from_jwk(dict(jwk))

    def to_json(self) -> dict[str, Any]:
        return {
            "did": self.did,
            "name": self.name,
            "keys": [dict(jwk) for _, jwk in sorted(self.keys.items())],
            "credentialTypes": sorted(self.credential_types),
            "statusListPrefixes": list(self.status_list_prefixes),
        }


def trusted_issuer(
    did: str,
    name: str,
    keys: Mapping[str, VerifyingKey | SigningKey],
    credential_types: Iterable[str],
    status_list_prefixes: Iterable[str],
) -> TrustedIssuer:
    """Describe an issuer for `build_trust_list`: its DID, display name, keys by kid, types and status URLs."""
    parse_did(did)
    jwks: dict[str, Mapping[str, Any]] = {}
    for kid, key in keys.items():
        if split_did_url(kid)[0] != did:
            raise ConnectorError("trust_list.invalid", f"key id {kid!r} is not a key of {did}", kid)
        jwks[kid] = MappingProxyType({**public_jwk(key), "kid": kid})
    prefixes = tuple(status_list_prefixes)
    for prefix in prefixes:
        check_prefix(prefix, "trust_list.invalid")
    return TrustedIssuer(did, name, MappingProxyType(jwks), frozenset(credential_types), prefixes)


@dataclass(frozen=True)
class TrustList:
    """A verified trust list."""

    federation_id: str
    federation_name: str
    sequence: int
    issued: datetime
    valid_from: datetime
    valid_until: datetime
    ca_certificates: tuple[x509.Certificate, ...]
    issuers: tuple[TrustedIssuer, ...]
    tsa_certificates: tuple[x509.Certificate, ...]
    document: Mapping[str, Any] = field(repr=False, compare=False)
    sha256: str = ""  # hex SHA-256 of the canonical document
    require_client_certificate: bool = False
    # Every service the list names, with its status history (a JSON list's are derived, approved throughout).
    services: tuple[TrustService, ...] = ()
    format: str = "jws"  # jws (the signed JSON list) | etsi (ETSI TS 119 612 XML)
    signer_sha256: str = ""  # hex SHA-256 of the certificate the list is signed under (its federation's anchor)

    def issuer(self, did: str) -> TrustedIssuer | None:
        for entry in self.issuers:
            if entry.did == did:
                return entry
        return None

    def services_of(self, kind: str) -> tuple[TrustService, ...]:
        return tuple(s for s in self.services if s.kind == kind)

    def valid_at(self, now: datetime) -> bool:
        return self.valid_from <= now < self.valid_until


def check_prefix(prefix: object, code: str) -> str:
    # A prefix ends at a path boundary, or "https://a.example/status" would also admit ".../statusevil".
    if not isinstance(prefix, str) or not prefix.endswith("/") or not plain_https_url(prefix[:-1]):
        raise ConnectorError(
            code,
            "a status-list URL prefix is a plain https URL with a path, ending with '/'",
            str(prefix)[:200],
        )
    return prefix


def build_trust_list(
    federation_id: str,
    federation_name: str,
    sequence: int,
    issued: datetime,
    valid_from: datetime,
    valid_until: datetime,
    ca_certificates: Sequence[x509.Certificate],
    issuers: Sequence[TrustedIssuer],
    tsa_certificates: Sequence[x509.Certificate] = (),
    require_client_certificate: bool = False,
) -> dict[str, Any]:
    """The unsigned trust list document."""
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 0:
        raise ConnectorError("trust_list.invalid", "sequence must be a non-negative integer")
    if not valid_from < valid_until:
        raise ConnectorError("trust_list.invalid", "validFrom must precede validUntil")
    if len({i.did for i in issuers}) != len(issuers):
        raise ConnectorError("trust_list.invalid", "an issuer is listed twice")
    document: dict[str, Any] = {
        "type": TRUST_LIST_TYPE,
        "version": TRUST_LIST_VERSION,
        "federation": {"id": federation_id, "name": federation_name},
        "sequence": sequence,
        "issued": format_datetime(issued),
        "validFrom": format_datetime(valid_from),
        "validUntil": format_datetime(valid_until),
        "tlsCaCertificates": [cert_pem(c).decode("ascii") for c in ca_certificates],
        "issuers": [i.to_json() for i in issuers],
        "timestampAuthorities": [cert_pem(c).decode("ascii") for c in tsa_certificates],
    }
    if require_client_certificate:  # absent otherwise: lists signed before the member existed stay as they were
        document["requireClientCertificate"] = True
    return document


def sign_trust_list(document: Mapping[str, Any], root_key: PrivateKey, root_cert: x509.Certificate) -> str:
    """Compact JWS over the canonical document, header x5c = [root certificate]."""
    if not _same_key(root_cert, root_key.public_key()):
        raise ConnectorError("trust_list.invalid", "the root key does not match the root certificate")
    _parse_document(document, cert_sha256(root_cert))  # never sign what verification would refuse
    return jws.sign_compact(
        root_key, canonical_bytes(dict(document)), {"typ": TRUST_LIST_TYP, "x5c": [cert_der_b64(root_cert)]}
    )


def _same_key(cert: x509.Certificate, key: VerifyingKey) -> bool:
    try:
        return same_public_key(cert.public_key(), key)  # type: ignore[arg-type]
    except ConnectorError:
        return False


def verify_trust_list(jws_text: object, anchor_cert: x509.Certificate, now: datetime) -> TrustList:
    """Verify a signed trust list against the pinned federation root certificate; raises ConnectorError.

    Either form: the signed JSON list (a compact JWS) or an ETSI TS 119 612 trusted list (XML, XAdES-signed)."""
    require_aware(now)
    if isinstance(jws_text, (str, bytes)):
        from connector.trust import etsi

        text = jws_text.decode("utf-8", "replace") if isinstance(jws_text, bytes) else jws_text
        if etsi.looks_like_xml(text):
            return etsi.verify_etsi_list(text, anchor_cert, now)
    jwt = parse_jwt(jws_text, "trust_list", allow_x5c=True, max_length=MAX_TRUST_LIST_LENGTH)
    x5c = jwt.header.get("x5c")
    if not isinstance(x5c, list) or len(x5c) != 1 or x5c[0] != cert_der_b64(anchor_cert):
        raise ConnectorError(
            "trust_list.anchor", "trust list is not signed under the pinned federation root certificate", "x5c"
        )
    if jwt.header.get("typ") != TRUST_LIST_TYP:
        raise ConnectorError("trust_list.malformed", f"trust list header typ must be {TRUST_LIST_TYP!r}", "typ")
    if not (anchor_cert.not_valid_before_utc <= now <= anchor_cert.not_valid_after_utc):
        raise ConnectorError("trust_list.anchor_invalid", "the pinned federation root certificate is not valid now")
    try:
        anchor_key = anchor_cert.public_key()
    except UnsupportedAlgorithm:
        raise ConnectorError(
            "trust_list.anchor_invalid", "the federation root certificate's key is of an algorithm not known here"
        ) from None
    if not jws.algorithms_for(anchor_key):
        raise ConnectorError(
            "trust_list.anchor_invalid", "the pinned federation root key is of a type no signature is checked with"
        )
    verify_signature(jwt, anchor_key, "trust_list")  # type: ignore[arg-type]
    document = dict(jwt.claims)
    try:
        canonical = canonical_bytes(document)
    except ValueError:
        raise ConnectorError(
            "trust_list.malformed", "trust list holds numbers outside the canonical JSON range"
        ) from None
    if jwt.token.split(".")[1] != b64url(canonical):
        raise ConnectorError("trust_list.malformed", "trust list payload is not in RFC 8785 canonical form")
    trust_list = _parse_document(document, cert_sha256(anchor_cert))
    if now < trust_list.valid_from:
        raise ConnectorError(
            "trust_list.not_yet_valid",
            f"trust list of {trust_list.federation_name} is not valid before {trust_list.valid_from.isoformat()}",
        )
    if now >= trust_list.valid_until:
        raise ConnectorError(
            "trust_list.expired",
            f"trust list of {trust_list.federation_name} expired at {trust_list.valid_until.isoformat()}",
        )
    return trust_list


def read_list_file(path: Path) -> str:
    """The text of a signed trust list's file (either form), read no further than a list may run to; OSError
    when it cannot be read, ValueError when it is larger or not UTF-8."""
    with open(path, "rb") as handle:
        data = handle.read(MAX_LIST_FILE_BYTES + 1)
    if len(data) > MAX_LIST_FILE_BYTES:
        raise ValueError(f"it is larger than {MAX_LIST_FILE_BYTES} bytes, which no signed trust list is")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"it is not UTF-8 text (invalid byte at position {exc.start})") from None


def verify_self_anchored(text: str, now: datetime, *, any_time: bool = False) -> TrustList:
    """A list verified under the certificate it carries itself (for one who chose to trust that list: an auditor,
    an authority recognising another federation). Either form. With `any_time`, a list outside its validity is
    read as at its own start (the caller holds its own times against `TrustList.valid_at`)."""
    from connector.trust import etsi

    token = text.strip()
    if etsi.looks_like_xml(token):
        signer = etsi.signer_certificate(token)
        try:
            return etsi.verify_etsi_list(token, signer, now)
        except ConnectorError as exc:
            if not any_time or exc.code not in ("trust_list.expired", "trust_list.not_yet_valid"):
                raise
        return etsi.verify_etsi_list(token, signer, etsi.read_etsi_list(token, [signer]).issued)
    try:
        x5c = jws.read_header(token).get("x5c")
        if not isinstance(x5c, list) or not x5c or not isinstance(x5c[0], str):
            raise ConnectorError("trust_list.malformed", "no x5c certificate in the header")
        anchor = x509.load_der_x509_certificate(base64.b64decode(x5c[0], validate=True))
    except (ConnectorError, ValueError, binascii.Error) as exc:
        reason = exc.reason if isinstance(exc, ConnectorError) else "the x5c certificate is unreadable"
        raise ConnectorError("trust_list.malformed", f"not a signed trust list: {reason}") from None
    try:
        return verify_trust_list(token, anchor, now)
    except ConnectorError as exc:
        if not any_time or exc.code not in ("trust_list.expired", "trust_list.not_yet_valid"):
            raise
    try:
        claims = json.loads(jws.read_payload_unverified(token))
        valid_from = parse_datetime(claims["validFrom"], "trust_list.malformed", "validFrom")
    except (ConnectorError, ValueError, KeyError, TypeError):
        raise ConnectorError("trust_list.malformed", "the trust list's validFrom is unreadable") from None
    return verify_trust_list(token, anchor, valid_from)


def _bad(why: str, where: str | None = None) -> ConnectorError:
    return ConnectorError("trust_list.malformed", f"trust list is malformed: {why}", where)


def _text(value: object, where: str) -> str:
    if not isinstance(value, str) or value == "":
        raise _bad(f"{where} is not a non-empty string", where)
    return value


def _certs(value: object, where: str) -> tuple[x509.Certificate, ...]:
    if not isinstance(value, list):
        raise _bad(f"{where} is not a list", where)
    certs = []
    for i, pem in enumerate(value):
        if not isinstance(pem, str) or not _PEM.match(pem):
            raise _bad(f"{where}[{i}] is not one PEM certificate", f"{where}[{i}]")
        try:
            certs.append(x509.load_pem_x509_certificate(pem.encode("ascii")))
        except ValueError:
            raise _bad(f"{where}[{i}] is not a certificate", f"{where}[{i}]") from None
    return tuple(certs)


def _issuer(raw: object, where: str) -> TrustedIssuer:
    if not isinstance(raw, dict):
        raise _bad(f"{where} is not an object", where)
    did = _text(raw.get("did"), f"{where}.did")
    try:
        parse_did(did)
    except ConnectorError:
        raise _bad(f"{where}.did is not a did:web DID", where) from None
    keys_raw = raw.get("keys")
    if not isinstance(keys_raw, list) or not keys_raw:
        raise _bad(f"{where}.keys is not a non-empty list", where)
    keys: dict[str, Mapping[str, Any]] = {}
    for j, jwk in enumerate(keys_raw):
        here = f"{where}.keys[{j}]"
        if not isinstance(jwk, dict) or "d" in jwk:
            raise _bad(f"{here} is not a public JWK", here)
        kid = _text(jwk.get("kid"), f"{here}.kid")
        try:
            if split_did_url(kid)[0] != did:
                raise _bad(f"{here}.kid is not a key of {did}", here)
            verifying_key_from_jwk(jwk)
        except ConnectorError as exc:
            if exc.code == "trust_list.malformed":
                raise
            raise _bad(f"{here} is not a supported public key with a DID URL kid ({exc.reason})", here) from None
        if kid in keys:
            raise _bad(f"{here}.kid is listed twice", here)
        keys[kid] = MappingProxyType(dict(jwk))
    types = raw.get("credentialTypes")
    if not isinstance(types, list) or not all(isinstance(t, str) and t for t in types):
        raise _bad(f"{where}.credentialTypes is not a list of strings", where)
    prefixes = raw.get("statusListPrefixes")
    if not isinstance(prefixes, list):
        raise _bad(f"{where}.statusListPrefixes is not a list", where)
    for prefix in prefixes:
        check_prefix(prefix, "trust_list.malformed")
    return TrustedIssuer(
        did, _text(raw.get("name"), f"{where}.name"), MappingProxyType(keys), frozenset(types), tuple(prefixes)
    )


def _derived_services(
    name: str, cas: tuple[x509.Certificate, ...], issuers: tuple[TrustedIssuer, ...], tsas: tuple[x509.Certificate, ...]
) -> tuple[TrustService, ...]:
    """A JSON list's content as services, approved throughout (the format has no status history)."""
    return (
        tuple(TrustService(CA_PKC, f"{name} CA", name, (c,)) for c in cas)
        + tuple(TrustService(EAA, i.name, name, (), ALWAYS, i.did) for i in issuers)
        + tuple(TrustService(TSA, f"{name} TSA", name, (c,)) for c in tsas)
    )


def _parse_document(doc: Mapping[str, Any], signer_sha256: str) -> TrustList:
    if doc.get("type") != TRUST_LIST_TYPE or doc.get("version") != TRUST_LIST_VERSION:
        raise _bad(f"not a version {TRUST_LIST_VERSION} {TRUST_LIST_TYPE}", "type")
    federation = doc.get("federation")
    if not isinstance(federation, dict):
        raise _bad("federation is not an object", "federation")
    sequence = doc.get("sequence")
    if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 0:
        raise _bad("sequence is not a non-negative integer", "sequence")
    issuers_raw = doc.get("issuers")
    if not isinstance(issuers_raw, list):
        raise _bad("issuers is not a list", "issuers")
    issuers = tuple(_issuer(raw, f"issuers[{i}]") for i, raw in enumerate(issuers_raw))
    if len({i.did for i in issuers}) != len(issuers):
        raise _bad("an issuer is listed twice", "issuers")
    valid_from = parse_datetime(doc.get("validFrom"), "trust_list.malformed", "validFrom")
    valid_until = parse_datetime(doc.get("validUntil"), "trust_list.malformed", "validUntil")
    if not valid_from < valid_until:
        raise _bad("validFrom does not precede validUntil", "validUntil")
    require_certificate = doc.get("requireClientCertificate", False)
    if not isinstance(require_certificate, bool):
        raise _bad("requireClientCertificate is not true or false", "requireClientCertificate")
    try:
        digest = sha256_hex(canonical_bytes(dict(doc)))
    except ValueError:
        raise _bad("numbers outside the canonical JSON range") from None
    name = _text(federation.get("name"), "federation.name")
    cas = _certs(doc.get("tlsCaCertificates"), "tlsCaCertificates")
    tsas = _certs(doc.get("timestampAuthorities", []), "timestampAuthorities")
    return TrustList(
        federation_id=_text(federation.get("id"), "federation.id"),
        federation_name=name,
        sequence=sequence,
        issued=parse_datetime(doc.get("issued"), "trust_list.malformed", "issued"),
        valid_from=valid_from,
        valid_until=valid_until,
        ca_certificates=cas,
        issuers=issuers,
        tsa_certificates=tsas,
        document=MappingProxyType(dict(doc)),
        sha256=digest,
        require_client_certificate=require_certificate,
        services=_derived_services(name, cas, issuers, tsas),
        signer_sha256=signer_sha256,
    )


# ---------------------------------------------------------------------------------------------------------
# Keeping the last valid copy


@dataclass(frozen=True)
class CopyChoice:
    """Which copy to keep: `trust_list` (None only if there was no valid copy at all), and why."""

    trust_list: TrustList | None
    replaced: bool
    problem: Problem | None = None


Verify = Callable[[str, x509.Certificate, datetime], TrustList]


def choose_copy(
    current_valid: TrustList | None,
    candidate: str,
    anchor_cert: x509.Certificate,
    now: datetime,
    verify: Verify | None = None,
) -> CopyChoice:
    """Decide whether a freshly fetched list replaces the copy kept for offline work.

    The candidate replaces the current copy only if it verifies now, belongs to the same federation, and has a
    higher sequence number. A candidate with the same sequence but different content is equivocation by the
    authority and is refused; an older sequence is a rollback and is refused. The current copy is kept even if
    it has since expired (the caller's TrustStore stops using expired lists), so a later valid list of lower
    sequence can never sneak back in. `verify` reads the candidate (default `verify_trust_list`).
    """
    try:
        fresh = (verify or verify_trust_list)(candidate, anchor_cert, now)
    except ConnectorError as exc:
        return CopyChoice(current_valid, False, exc.problem)
    if current_valid is None:
        return CopyChoice(fresh, True)
    if fresh.federation_id != current_valid.federation_id:
        return CopyChoice(
            current_valid,
            False,
            Problem(
                "trust_list.federation_mismatch",
                f"candidate list is for federation {fresh.federation_id!r}, not {current_valid.federation_id!r}",
            ),
        )
    if fresh.sequence < current_valid.sequence:
        return CopyChoice(
            current_valid,
            False,
            Problem(
                "trust_list.rollback",
                f"candidate list has sequence {fresh.sequence}, older than the kept {current_valid.sequence}",
            ),
        )
    if fresh.sequence == current_valid.sequence:
        if fresh.sha256 == current_valid.sha256:
            return CopyChoice(current_valid, False)
        return CopyChoice(
            current_valid,
            False,
            Problem(
                "trust_list.equivocation",
                f"two different lists carry sequence {fresh.sequence}; keeping the first one seen",
            ),
        )
    return CopyChoice(fresh, True)


# ---------------------------------------------------------------------------------------------------------
# Several federations at once


@dataclass(frozen=True)
class TrustStore:
    """The verified trust lists a node recognises, one per federation."""

    lists: tuple[TrustList, ...] = ()

    def __post_init__(self) -> None:
        ids = [t.federation_id for t in self.lists]
        if len(set(ids)) != len(ids):
            raise ConnectorError(
                "trust_store.duplicate_federation", "two trust lists of the same federation; keep one copy"
            )

    def valid_at(self, now: datetime) -> TrustStore:
        """The store restricted to lists valid at `now` (an expired list no longer vouches for anything)."""
        require_aware(now)
        valid = tuple(t for t in self.lists if t.valid_at(now))
        # Itself when nothing is left out, so that what it has worked out (CA certificates) is kept.
        return self if len(valid) == len(self.lists) else TrustStore(valid)

    def expires_at(self) -> datetime | None:
        return min((t.valid_until for t in self.lists), default=None)

    def ca_certificates(self) -> tuple[x509.Certificate, ...]:
        return self._cas[0]

    def ca_der(self) -> frozenset[bytes]:
        """The DER encodings of `ca_certificates()`."""
        return self._cas[1]

    @functools.cached_property
    def _cas(self) -> tuple[tuple[x509.Certificate, ...], frozenset[bytes]]:
        # Encoding a certificate costs about as much as a signature check; the store is immutable.
        by_der = _by_der(c for t in self.lists for c in t.ca_certificates)
        return tuple(by_der.values()), frozenset(by_der)

    def tsa_certificates(self) -> tuple[x509.Certificate, ...]:
        return _unique(c for t in self.lists for c in t.tsa_certificates)

    def issuer(self, did: str) -> tuple[tuple[str, TrustedIssuer], ...]:
        """Every (federation name, entry) naming this issuer, ordered by federation id."""
        found = [(t.federation_id, t.federation_name, t.issuer(did)) for t in self.lists]
        return tuple((name, entry) for _, name, entry in sorted(found, key=lambda f: f[0]) if entry is not None)

    def is_known(self, did: str) -> bool:
        return bool(self.issuer(did))

    def may_issue(self, did: str, credential_type: str) -> str | None:
        """The federation vouching for `did` issuing `credential_type`, or None; every list naming it must agree."""
        entries = self.issuer(did)
        if not entries or not all(credential_type in e.credential_types for _, e in entries):
            return None
        return entries[0][0]

    def issuer_not_accredited(self, did: str, issued_at: datetime) -> str | None:
        """Why the issuer service of `did` was not in an approved status at `issued_at` on some list naming it
        (None: it was on every one). A credential counts by its issuer's status when it was issued."""
        for name, entry in self.issuer(did):
            why = entry.history.why_not_at(issued_at)
            if why is not None:
                return f"on the trust list of {name}, {why}"
        return None

    def lists_naming(self, did: str) -> tuple[TrustList, ...]:
        """The lists naming the issuer `did`, ordered by federation id."""
        return tuple(sorted((t for t in self.lists if t.issuer(did) is not None), key=lambda t: t.federation_id))

    def ca_anchors_at(self, moment: datetime) -> tuple[x509.Certificate, ...]:
        """The CA certificates of services in an approved status at `moment` (for evidence made then)."""
        return _unique(
            c
            for t in self.lists
            for s in t.services_of(KIND_CA)
            if s.history.approved_at(moment)
            for c in s.certificates
        )

    def tsa_anchors(self) -> tuple[x509.Certificate, ...]:
        """What a time-stamp's TSA certificate must chain to: the certificates of the listed time-stamp services
        (whatever their status: what counts is their status at the time-stamp's genTime, `timestamp_problem`),
        and the CAs of lists that name no time-stamp service (a JSON list: a TSA certified by its federation)."""
        found: list[x509.Certificate] = []
        for t in self.lists:
            tsas = t.services_of(KIND_TSA)
            if tsas:
                found.extend(c for s in tsas for c in s.certificates)
            else:
                found.extend(c for s in t.services_of(KIND_CA) for c in s.certificates)
        return _unique(found)

    def timestamp_problem(self, tsa_cert: x509.Certificate, gen_time: datetime) -> str | None:
        """Why a time-stamp signed with `tsa_cert` at `gen_time` is not evidence: its time-stamp service was not
        in an approved status then (None: it was, or the TSA is certified by a list without such services)."""
        der = tsa_cert.public_bytes(Encoding.DER)
        for t in self.lists:
            for service in t.services_of(KIND_TSA):
                if any(c.public_bytes(Encoding.DER) == der for c in service.certificates):
                    why = service.history.why_not_at(gen_time)
                    if why is not None:
                        return (
                            f"the time-stamp service '{service.name}' on the trust list of {t.federation_name} was "
                            f"not accredited when the time-stamp was made ({format_datetime(gen_time)}): {why}"
                        )
        return None

    def issuer_key(self, did: str, kid: str) -> VerifyingKey:
        """The issuer key `kid`, if every list naming the issuer carries it identically."""
        entries = self.issuer(did)
        if not entries:
            raise ConnectorError("trust.issuer_unknown", f"{did} is on no trust list", did)
        jwks = [jwk for _, e in entries if (jwk := e.keys.get(kid)) is not None]
        if len(jwks) != len(entries):
            raise ConnectorError(
                "trust.issuer_key_unknown", f"key {kid!r} of {did} is not on every list naming the issuer", kid
            )
        if any(dict(j) != dict(jwks[0]) for j in jwks):
            raise ConnectorError("trust.issuer_key_conflict", f"trust lists disagree about key {kid!r} of {did}", kid)
        return entries[0][1].key(kid)

    def requiring_certificates(self, issuers: Iterable[str]) -> tuple[str, ...]:
        """The federations (by name) whose lists name one of `issuers` and require their members to present a
        client certificate."""
        wanted = set(issuers)
        return tuple(
            sorted(
                t.federation_name
                for t in self.lists
                if t.require_client_certificate and any(i.did in wanted for i in t.issuers)
            )
        )

    def status_list_allowed(self, issuer: str, url: str) -> bool:
        """Whether `issuer` may publish status lists at `url` according to every list naming it."""
        entries = self.issuer(issuer)
        if not entries or not plain_https_url(url):
            return False
        return all(any(url.startswith(p) for p in e.status_list_prefixes) for _, e in entries)


def plain_https_url(url: object) -> TypeGuard[str]:
    """An https URL whose path cannot climb out of a prefix: no query, fragment, user info, dot or encoded
    segments. Prefix matching is only sound on such URLs."""
    if not isinstance(url, str) or not url.startswith("https://") or len(url) > 2048:
        return False
    rest = url[len("https://") :]
    authority, slash, path = rest.partition("/")
    if not slash or not authority or "@" in authority or any(c in url for c in "?#\\%"):
        return False
    return all(_URL_SEGMENT.match(seg) and seg not in (".", "..") for seg in path.split("/"))


def _unique(certs: Iterable[x509.Certificate]) -> tuple[x509.Certificate, ...]:
    return tuple(_by_der(certs).values())


def _by_der(certs: Iterable[x509.Certificate]) -> dict[bytes, x509.Certificate]:
    """The certificates by DER encoding, each once, in first-seen order."""
    seen: dict[bytes, x509.Certificate] = {}
    for cert in certs:
        seen.setdefault(cert.public_bytes(Encoding.DER), cert)
    return seen
