"""Who signs evidence: a participant's signing key with the certificates that let anyone verify it offline,
and the matching check of a JWS that carries its own certificate chain."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec

from connector.evidence.certpath import CertPath, certs_from_x5c, require_signing_usage, uri_sans, validate_path, x5c_of
from connector.evidence.errors import EvidenceError
from connector.jws import JwsError, read_header, verify_compact, verify_detached
from connector.keys import PrivateKey, same_public_key


def did_of_kid(kid: object) -> str | None:
    """The DID part of a DID URL key id (``did:web:host:org#key-1`` -> ``did:web:host:org``), else None."""
    if not isinstance(kid, str) or not kid.startswith("did:") or kid.count("#") != 1:
        return None
    did, fragment = kid.split("#")
    return did if fragment else None


@dataclass(frozen=True)
class SigningIdentity:
    """A participant's signing key, its DID and key id, its certificate and the issuing chain up to the root.

    `kid` is a DID URL in the participant's DID document; `chain` is what goes after the signer certificate in
    ``x5c`` (normally just the federation authority's CA certificate).
    """

    did: str
    kid: str
    key: PrivateKey
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...]

    def __post_init__(self) -> None:
        # Mistakes here would only surface at the verifier, possibly years later; catch them at signing time.
        if did_of_kid(self.kid) != self.did:
            raise EvidenceError("signer.kid", f"key id {self.kid!r} is not a DID URL of {self.did}", "kid")
        if self.did not in uri_sans(self.cert):
            raise EvidenceError("signer.cert", f"signing certificate does not name {self.did} as URI SAN", "cert")
        public = self.cert.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey) or not same_public_key(self.key, public):
            raise EvidenceError("signer.cert", "signing certificate is not for this key", "cert")

    @property
    def x5c(self) -> list[str]:
        return list(self._x5c)

    @cached_property
    def _x5c(self) -> tuple[str, ...]:
        # Encoded once: it goes into the header of every signature this identity makes.
        return tuple(x5c_of((self.cert, *self.chain)))


def verify_signed(
    jws: str,
    anchors: Sequence[x509.Certificate],
    at: datetime,
    *,
    prefix: str,
    typ: str,
    non_repudiation: bool,
    detached_payload: bytes | None = None,
) -> tuple[dict[str, Any], bytes, CertPath]:
    """Verify an ES256 JWS whose ``x5c`` chains to one of `anchors` at instant `at`.

    Returns (protected header, payload, validated path). Format and signature failures carry codes under
    `prefix` (``<prefix>.malformed``, ``.typ``, ``.signature`` ...); certificate failures keep their
    ``certpath.*`` codes. The caller still has to check *who* the certificate names.
    """
    try:
        header = read_header(jws)
    except JwsError as exc:
        raise EvidenceError(f"{prefix}.malformed", exc.reason, "header", jws_code=exc.code) from None
    if header.get("typ") != typ:
        raise EvidenceError(f"{prefix}.typ", f"JWS typ must be {typ!r}", "typ")
    certs = certs_from_x5c(header.get("x5c"))
    path = validate_path(certs[0], certs[1:], anchors, at)
    require_signing_usage(path.leaf, non_repudiation=non_repudiation, where="x5c")
    try:
        public = path.leaf.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise EvidenceError(f"{prefix}.key", "signing certificate holds an unusable key", "x5c") from None
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, ec.SECP256R1):
        raise EvidenceError(f"{prefix}.key", "signing certificate does not hold a P-256 key", "x5c")
    try:
        if detached_payload is None:
            _, payload = verify_compact(public, jws)
        else:
            verify_detached(public, jws, detached_payload, header=header)
            payload = detached_payload
    except JwsError as exc:
        code = f"{prefix}.signature" if exc.code == "jws.signature" else f"{prefix}.malformed"
        raise EvidenceError(code, exc.reason, jws_code=exc.code) from None
    return header, payload, path
