"""JSON Web Signatures with one pinned algorithm (ES256).

The algorithm is never chosen by the token: a header naming anything but ES256 (``none``, ``HS256``, ...) is
refused before any key is touched. Compact JWS for tokens and credentials; detached JWS (RFC 7515 appendix F)
for seals and signatures over documents that travel separately.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from connector.canonical import b64url, b64url_decode
from connector.errors import ConnectorError
from connector.keys import PrivateKey, PublicKey

ALGORITHM = "ES256"


class JwsError(ConnectorError):
    """A signature or token that cannot be accepted; `code` says which check failed."""


_ES256 = ec.ECDSA(hashes.SHA256())  # immutable: one for every signature and check


def _sign_raw(key: PrivateKey, signing_input: bytes) -> bytes:
    der = key.sign(signing_input, _ES256)
    r, s = decode_dss_signature(der)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def _verify_raw(key: PublicKey, signing_input: bytes, signature: bytes) -> bool:
    if len(signature) != 64:
        return False
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        key.verify(der, signing_input, _ES256)
        return True
    except InvalidSignature:
        return False


def sign_compact(key: PrivateKey, payload: bytes, header: dict[str, Any] | None = None) -> str:
    """A compact JWS over `payload` with header {"alg": "ES256", ...header}."""
    hdr = {"alg": ALGORITHM, **(header or {})}
    hdr["alg"] = ALGORITHM
    h = b64url(json.dumps(hdr, separators=(",", ":"), sort_keys=True).encode())
    p = b64url(payload)
    sig = _sign_raw(key, f"{h}.{p}".encode("ascii"))
    return f"{h}.{p}.{b64url(sig)}"


def read_header(jws: str) -> dict[str, Any]:
    """The protected header of a compact JWS, checked for the pinned algorithm, without verifying."""
    if not isinstance(jws, str) or jws.count(".") != 2:
        raise JwsError("jws.malformed", "not a compact JWS (three dot-separated parts expected)")
    try:
        header = json.loads(b64url_decode(jws.split(".", 1)[0]))
    except ValueError:
        raise JwsError("jws.malformed", "JWS header is not base64url JSON") from None
    if not isinstance(header, dict):
        raise JwsError("jws.malformed", "JWS header is not a JSON object")
    check_header(header)
    return header


def check_header(header: Mapping[str, Any]) -> None:
    """The checks `read_header` makes of a header the caller has already decoded: the pinned algorithm, no crit."""
    if header.get("alg") != ALGORITHM:
        raise JwsError("jws.algorithm", f"algorithm {header.get('alg')!r} refused; only {ALGORITHM} is accepted")
    if "crit" in header:
        raise JwsError("jws.critical", "JWS header lists critical extensions this node does not understand")


def verify_signing_input(key: PublicKey, signing_input: bytes, signature: bytes) -> None:
    """Check the signature over ``header.payload`` of a compact JWS whose parts the caller has already decoded
    and whose header it has checked (`check_header`); raises JwsError('jws.signature')."""
    if not _verify_raw(key, signing_input, signature):
        raise JwsError("jws.signature", "signature does not verify with the expected key")


def read_payload_unverified(jws: str) -> bytes:
    read_header(jws)
    try:
        return b64url_decode(jws.split(".")[1])
    except ValueError:
        raise JwsError("jws.malformed", "JWS payload is not base64url") from None


def verify_compact(key: PublicKey, jws: str) -> tuple[dict[str, Any], bytes]:
    """Verify a compact JWS; returns (header, payload) or raises JwsError."""
    header = read_header(jws)
    h, p, s = jws.split(".")
    try:
        signature = b64url_decode(s)
        payload = b64url_decode(p)
    except ValueError:
        raise JwsError("jws.malformed", "JWS parts are not base64url") from None
    verify_signing_input(key, f"{h}.{p}".encode("ascii"), signature)
    return header, payload


def sign_detached(key: PrivateKey, payload: bytes, header: dict[str, Any] | None = None) -> str:
    """A compact JWS with the payload part left empty (``header..signature``)."""
    h, _, s = sign_compact(key, payload, header).split(".")
    return f"{h}..{s}"


def verify_detached(key: PublicKey, jws: str, payload: bytes, header: dict[str, Any] | None = None) -> dict[str, Any]:
    """Verify a detached compact JWS against the payload it covers; returns the header.

    `header` is `read_header(jws)` when the caller has already read (and so checked) it."""
    if not isinstance(jws, str) or jws.count(".") != 2 or jws.split(".")[1] != "":
        raise JwsError("jws.malformed", "not a detached JWS (header..signature expected)")
    h, _, s = jws.split(".")
    if header is None:
        header = read_header(jws)
    try:
        signature = b64url_decode(s)
    except ValueError:
        raise JwsError("jws.malformed", "JWS parts are not base64url") from None
    verify_signing_input(key, f"{h}.{b64url(payload)}".encode("ascii"), signature)
    return header
