"""Who signed: an ``x5c`` certificate chain checked offline against a federation's root certificates.

A participant's signing certificate is issued by its federation's authority CA with the participant's DID as
URI SAN and the digitalSignature key usage. Any certificate a signer sends along is only a path-building hint:
trust comes from the anchors passed in, never from the chain itself.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from connector.errors import ConnectorError

MAX_CHAIN = 4


class SignerError(ConnectorError):
    """The signer's certificate or its chain cannot be accepted."""


@dataclass(frozen=True)
class Signer:
    did: str
    certificate: x509.Certificate
    anchor: x509.Certificate

    @property
    def fingerprint(self) -> str:
        """Hex SHA-256 of the signing certificate (DER)."""
        return self.certificate.fingerprint(hashes.SHA256()).hex()


def decode_x5c(value: Any) -> list[x509.Certificate]:
    """The certificates of a JWS ``x5c`` header (standard base64 DER, leaf first)."""
    if not isinstance(value, list) or not value or len(value) > MAX_CHAIN:
        raise SignerError("signer.x5c", f"x5c must list 1 to {MAX_CHAIN} certificates, leaf first", "x5c")
    certs = []
    for i, text in enumerate(value):
        try:
            if not isinstance(text, str):
                raise ValueError("not a string")
            certs.append(x509.load_der_x509_certificate(base64.b64decode(text, validate=True)))
        except (ValueError, binascii.Error):
            raise SignerError("signer.x5c", f"x5c entry {i} is not a base64 DER certificate", f"x5c.{i}") from None
    return certs


def _valid_at(cert: x509.Certificate, at: datetime) -> bool:
    return cert.not_valid_before_utc <= at <= cert.not_valid_after_utc


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string()


def _issuer(cert: x509.Certificate) -> str:
    return cert.issuer.rfc4514_string()


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        return False
    if not constraints.ca:
        return False
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return True
    return usage.key_cert_sign


def check_signing_certificate(cert: x509.Certificate, did: str, at: datetime) -> None:
    """The leaf must be a P-256 end-entity certificate for `did`, allowed to sign, valid at `at`."""
    subject = _subject(cert)
    if not _valid_at(cert, at):
        raise SignerError(
            "signer.expired",
            f"the signing certificate ({subject}) was not valid at {at.isoformat()}",
            "x5c.0",
        )
    try:
        uris = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.UniformResourceIdentifier
        )
    except x509.ExtensionNotFound:
        uris = []
    if did not in uris:
        raise SignerError(
            "signer.identity", f"the signing certificate is not issued to {did} (its URI SAN differs)", "x5c.0"
        )
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        may_sign = usage.digital_signature
    except x509.ExtensionNotFound:
        may_sign = False
    if not may_sign:
        raise SignerError("signer.usage", "the signing certificate lacks the digitalSignature key usage", "x5c.0")
    if _is_ca(cert):
        raise SignerError("signer.usage", "a CA certificate cannot be a participant's signing certificate", "x5c.0")
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SignerError("signer.key", "the signing certificate's key is not ECDSA P-256", "x5c.0")


def verify_signer(
    chain: Sequence[x509.Certificate], did: str, anchors: Sequence[x509.Certificate], at: datetime
) -> Signer:
    """Check the leaf of `chain` for `did` and build a path from it to one of `anchors`, all valid at `at`."""
    if at.tzinfo is None:
        raise ValueError("the verification time must be timezone-aware")
    if not chain:
        raise SignerError("signer.x5c", "no signing certificate was given", "x5c")
    leaf = chain[0]
    check_signing_certificate(leaf, did, at)
    current = leaf
    used = {leaf.fingerprint(hashes.SHA256())}
    expired_anchor: x509.Certificate | None = None
    for _ in range(MAX_CHAIN):
        for anchor in anchors:
            if current.issuer == anchor.subject and _issued_by(current, anchor):
                if _valid_at(anchor, at):
                    return Signer(did, leaf, anchor)
                expired_anchor = anchor  # a renewed root with the same key may still follow
        step = next(
            (
                c
                for c in chain[1:]
                if c.fingerprint(hashes.SHA256()) not in used
                and current.issuer == c.subject
                and _is_ca(c)
                and _valid_at(c, at)
                and _issued_by(current, c)
            ),
            None,
        )
        if step is None:
            break
        used.add(step.fingerprint(hashes.SHA256()))
        current = step
    if expired_anchor is not None:
        raise SignerError(
            "signer.untrusted",
            f"the trusted root {_subject(expired_anchor)} was not valid at {at.isoformat()}",
            "x5c",
        )
    raise SignerError(
        "signer.untrusted",
        f"the signing certificate of {did} does not chain to a trusted root (issuer {_issuer(current)})",
        "x5c",
    )
