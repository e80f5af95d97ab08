"""Offline certificate path validation for signatures that carry their own chain (JWS ``x5c``, CMS ``certificates``).

Evidence is verified long after the fact, by parties who hold nothing but the federation roots. So a path is
built from the certificates that travel with the signature to one of the given trust anchors, and checked at a
caller-chosen instant (usually the time the signature claims, or a trusted time-stamp), not at "now".
Revocation is deliberately not consulted here: whether a later revocation voids an earlier signature is a
policy question for the caller, who may hold CRLs that this pure function does not.

A participant's signing certificate (`verify_signer`) is a path like any other, with a profile for its leaf: issued
by its federation's authority to the participant's DID as URI SAN, for digitalSignature, not a CA, ECDSA P-256.
Any certificate a signer sends along is only a path-building hint: trust comes from the anchors passed in.
"""

from __future__ import annotations

import base64
import binascii
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID

from connector.evidence.errors import EvidenceError

# Extensions whose meaning this validator either checks or may safely ignore when marked critical.
_UNDERSTOOD = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    }
)

# Certificates a signer may send (leaf first), and so the most a path holds below its anchor.
MAX_CHAIN = 4

# What cryptography raises for certificates it can decode only partly (bad version, duplicate extensions...).
_UNUSABLE = (ValueError, UnsupportedAlgorithm, x509.InvalidVersion, x509.DuplicateExtension)


class SignerError(EvidenceError):
    """A participant's signing certificate, or its chain, that cannot be accepted (``signer.*``)."""


@dataclass(frozen=True)
class CertPath:
    """A validated path: the end-entity certificate first, the trust anchor last."""

    certs: tuple[x509.Certificate, ...]

    @property
    def leaf(self) -> x509.Certificate:
        return self.certs[0]

    @property
    def anchor(self) -> x509.Certificate:
        return self.certs[-1]


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def load_usable_der(der: bytes) -> x509.Certificate | None:
    """A DER certificate whose extensions and key can be read, or None."""
    try:
        cert = x509.load_der_x509_certificate(der)
        _ = cert.extensions  # parsed (and cached) now, so later checks cannot fail half-way
        cert.public_key()
    except _UNUSABLE:
        return None
    return cert


def certs_from_x5c(value: Any, where: str = "x5c") -> tuple[x509.Certificate, ...]:
    """Parse a JWS ``x5c`` header (RFC 7515 4.1.6: standard base64 DER, signer first)."""
    if not isinstance(value, list) or not 0 < len(value) <= MAX_CHAIN or not all(isinstance(v, str) for v in value):
        raise EvidenceError(
            "certpath.x5c", f"x5c must list 1 to {MAX_CHAIN} base64 DER certificates, signer first", where
        )
    certs = []
    for index, text in enumerate(value):
        cert = _x5c_entry(text)
        if cert is None:
            raise EvidenceError("certpath.x5c", f"x5c entry {index} is not a usable base64 DER certificate", where)
        certs.append(cert)
    return tuple(certs)


@functools.lru_cache(maxsize=256)
def _x5c_entry(text: str) -> x509.Certificate | None:
    # A peer sends the same few certificates with every signature; certificates are immutable values.
    try:
        return load_usable_der(base64.b64decode(text, validate=True))
    except binascii.Error:
        return None


def x5c_of(certs: Iterable[x509.Certificate]) -> list[str]:
    return [base64.b64encode(_der(c)).decode("ascii") for c in certs]


def uri_sans(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    return tuple(ext.value.get_values_for_type(x509.UniformResourceIdentifier))


def key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


def require_signing_usage(cert: x509.Certificate, *, non_repudiation: bool, where: str) -> None:
    """The end-entity key must be meant for signatures (and, for commitments, for non-repudiation)."""
    usage = key_usage(cert)
    if usage is None or not usage.digital_signature:
        raise EvidenceError("certpath.key_usage", "signing certificate lacks keyUsage digitalSignature", where)
    if non_repudiation and not usage.content_commitment:
        raise EvidenceError("certpath.key_usage", "signing certificate lacks keyUsage nonRepudiation", where)


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    if child.issuer != parent.subject:
        return False
    return _signed_by(child, parent)


@functools.lru_cache(maxsize=1024)
def _signed_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    # A pure function of the two certificates (equal and hashed by their DER): the same peer's chain is checked
    # for every signature it makes, so the signature check is done once per pair.
    try:
        child.verify_directly_issued_by(parent)
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def _basic_constraints(cert: x509.Certificate) -> x509.BasicConstraints | None:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return None


def _is_ca(cert: x509.Certificate) -> bool:
    constraints = _basic_constraints(cert)
    return constraints is not None and constraints.ca


def _valid_at(cert: x509.Certificate, at: datetime) -> bool:
    return cert.not_valid_before_utc <= at <= cert.not_valid_after_utc


def _issuer_among(
    cert: x509.Certificate, candidates: Iterable[x509.Certificate], at: datetime
) -> x509.Certificate | None:
    """The first of `candidates` that issued `cert`, preferring one valid at `at`: a renewed CA certificate (same
    name, same key) may follow an expired one, and the path through it is the one that can hold."""
    expired = None
    for candidate in candidates:
        if _issued_by(cert, candidate):
            if _valid_at(candidate, at):
                return candidate
            if expired is None:
                expired = candidate
    return expired


class _LazyName:
    """A certificate's subject, rendered only if a message needs it (it rarely does, and rendering costs)."""

    def __init__(self, cert: x509.Certificate) -> None:
        self._cert = cert

    def __str__(self) -> str:
        return self._cert.subject.rfc4514_string()

    def __repr__(self) -> str:
        return repr(str(self))


def _check(path: list[x509.Certificate], at: datetime, where: str) -> None:
    for index, cert in enumerate(path):
        name = _LazyName(cert)
        if not _valid_at(cert, at):
            if index and index == len(path) - 1:
                reason = f"the trusted root {name!r} was not valid at {at.isoformat()}"
            else:
                reason = f"certificate {name!r} is not valid at {at.isoformat()}"
            raise EvidenceError("certpath.validity", reason, where, index=index)
        for ext in cert.extensions:
            if ext.critical and ext.oid not in _UNDERSTOOD:
                raise EvidenceError(
                    "certpath.critical_extension",
                    f"certificate {name!r} has a critical extension this verifier cannot process "
                    f"({ext.oid.dotted_string})",
                    where,
                )
        if index == 0:
            if len(path) > 1 and _is_ca(cert):
                raise EvidenceError("certpath.leaf_is_ca", f"signer certificate {name!r} is a CA", where)
            continue
        constraints = _basic_constraints(cert)
        if constraints is None or not constraints.ca:
            raise EvidenceError("certpath.not_ca", f"issuer certificate {name!r} is not a CA", where)
        # Intermediates between this issuer and the leaf (self-issued ones are rare enough to count too).
        below = index - 1
        if constraints.path_length is not None and below > constraints.path_length:
            raise EvidenceError("certpath.path_length", f"path is longer than {name!r} allows", where)
        usage = key_usage(cert)
        if usage is not None and not usage.key_cert_sign:
            raise EvidenceError("certpath.key_usage", f"issuer {name!r} may not sign certificates", where)


# Paths that passed every check, by the certificates they were built from (certificates are equal and hashed by
# their DER): a peer signs with the same chain again and again, and building and checking it costs far more than
# the signature itself.
_VALID_PATHS: dict[tuple[Any, ...], tuple[x509.Certificate, ...]] = {}
MAX_KNOWN_PATHS = 256


def _remember(key: tuple[Any, ...], path: list[x509.Certificate]) -> CertPath:
    if len(_VALID_PATHS) >= MAX_KNOWN_PATHS:
        _VALID_PATHS.clear()
    _VALID_PATHS[key] = tuple(path)
    return CertPath(tuple(path))


def validate_path(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    anchors: Sequence[x509.Certificate],
    at: datetime,
    where: str = "x5c",
) -> CertPath:
    """Build a path from `leaf` through `intermediates` to one of `anchors` and check it at instant `at`.

    A leaf that is itself one of the anchors (a pinned certificate) is accepted as a path of one.
    """
    key = (leaf, tuple(intermediates), tuple(anchors))
    known = _VALID_PATHS.get(key)
    if known is not None and all(_valid_at(c, at) for c in known):
        # Built from these very certificates before and checked in every respect but the instant, which holds.
        # Otherwise the path is built afresh: another anchor or intermediate may be valid then, and a refusal
        # reads exactly as a first one would.
        return CertPath(known)
    anchor_ders = {_der(a) for a in anchors}
    path = [leaf]
    current = leaf
    while len(path) <= MAX_CHAIN:
        if _der(current) in anchor_ders:
            _check(path, at, where)
            return _remember(key, path)
        issuer = _issuer_among(current, anchors, at)
        if issuer is not None:
            path.append(issuer)
            _check(path, at, where)
            return _remember(key, path)
        seen = {_der(c) for c in path}
        issuer = _issuer_among(current, (c for c in intermediates if _der(c) not in seen), at)
        if issuer is None:
            break
        path.append(issuer)
        current = issuer
    raise EvidenceError(
        "certpath.untrusted",
        f"no chain from {leaf.subject.rfc4514_string()!r} to a trusted root",
        where,
    )


@dataclass(frozen=True)
class Signer:
    """A participant whose signing certificate chains to a trusted root."""

    did: str
    path: CertPath

    @property
    def certificate(self) -> x509.Certificate:
        return self.path.leaf

    @property
    def anchor(self) -> x509.Certificate:
        return self.path.anchor

    @property
    def fingerprint(self) -> str:
        """Hex SHA-256 of the signing certificate (DER)."""
        return self.certificate.fingerprint(hashes.SHA256()).hex()


def check_signing_certificate(cert: x509.Certificate, did: str, at: datetime) -> None:
    """The leaf must be a P-256 end-entity certificate for `did`, allowed to sign, valid at `at`."""
    if not _valid_at(cert, at):
        subject = cert.subject.rfc4514_string()
        raise SignerError(
            "signer.expired", f"the signing certificate ({subject}) was not valid at {at.isoformat()}", "x5c.0"
        )
    if did not in uri_sans(cert):
        raise SignerError(
            "signer.identity", f"the signing certificate is not issued to {did} (its URI SAN differs)", "x5c.0"
        )
    usage = key_usage(cert)
    if usage is None or not usage.digital_signature:
        raise SignerError("signer.usage", "the signing certificate lacks the digitalSignature key usage", "x5c.0")
    if _is_ca(cert):
        raise SignerError("signer.usage", "a CA certificate cannot be a participant's signing certificate", "x5c.0")
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SignerError("signer.key", "the signing certificate's key is not ECDSA P-256", "x5c.0")


def verify_signer(
    chain: Sequence[x509.Certificate], did: str, anchors: Sequence[x509.Certificate], at: datetime
) -> Signer:
    """Check the leaf of `chain` for `did` and build a path from it to one of `anchors`, all valid at `at`.

    A leaf that fails its profile is refused with its own code; any other refusal (no path, an issuer that is
    not a CA, a root that had expired by then) is ``signer.untrusted``.
    """
    if at.tzinfo is None:
        raise ValueError("the verification time must be timezone-aware")
    if not chain:
        raise SignerError("signer.x5c", "no signing certificate was given", "x5c")
    check_signing_certificate(chain[0], did, at)
    try:
        path = validate_path(chain[0], chain[1:], anchors, at)
    except EvidenceError as exc:
        raise SignerError("signer.untrusted", exc.reason, exc.where) from None
    return Signer(did, path)
