"""JSON Web Signatures whose algorithm is pinned to the key, never chosen by the token.

This node signs with one algorithm, ES256 (P-256). It verifies the algorithms the Decentralized Claims Protocol
expects of a verifier, each tied to one key type (`algorithms_for`): ES256 for P-256, ES384 for P-384, EdDSA for
Ed25519, RS256 and PS256 for RSA keys of at least 2048 bits. A header naming anything else (``none``, ``HS256``,
...) is refused before any key is touched, and a signature is only checked when the header's algorithm is one
the chosen key may produce, so a public key can never be used as an HMAC secret or with another curve's hash.
The signature arithmetic is PyJWT's; the framing (strict compact serialisation, detached payloads) is ours.

Compact JWS for tokens and credentials; detached JWS (RFC 7515 appendix F) for seals and signatures over
documents that travel separately. `read_header` / `check_header` accept only ES256: they read this project's
own signatures (seals, agreement signatures, checkpoints), which are never anything else.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from connector.canonical import b64url, b64url_decode
from connector.errors import ConnectorError
from connector.keys import MIN_RSA_BITS, PrivateKey, VerifyingKey

if TYPE_CHECKING:
    from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

ALGORITHM = "ES256"  # what this node signs with
ALGORITHMS = frozenset({"ES256", "ES384", "EdDSA", "RS256", "PS256"})  # what this node verifies


@functools.cache
def _implementations() -> Mapping[str, ECAlgorithm | OKPAlgorithm | RSAAlgorithm]:
    """The PyJWT implementation of each algorithm in ALGORITHMS (immutable, shared by every check; PyJWT is loaded
    with the first signature made or checked)."""
    from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm, RSAPSSAlgorithm

    return {
        "ES256": ECAlgorithm(ECAlgorithm.SHA256),
        "ES384": ECAlgorithm(ECAlgorithm.SHA384),
        "EdDSA": OKPAlgorithm(),
        "RS256": RSAAlgorithm(RSAAlgorithm.SHA256),
        "PS256": RSAPSSAlgorithm(RSAPSSAlgorithm.SHA256),
    }


class JwsError(ConnectorError):
    """A signature or token that cannot be accepted; `code` says which check failed."""


def algorithms_for(key: object) -> tuple[str, ...]:
    """The algorithms `key` may verify, by its type alone; () for a key of no supported type."""
    if isinstance(key, ec.EllipticCurvePublicKey):
        if isinstance(key.curve, ec.SECP256R1):
            return ("ES256",)
        if isinstance(key.curve, ec.SECP384R1):
            return ("ES384",)
        return ()
    if isinstance(key, ed25519.Ed25519PublicKey):
        return ("EdDSA",)
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS:
        return ("RS256", "PS256")
    return ()


def _sign_raw(key: PrivateKey, signing_input: bytes) -> bytes:
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise JwsError("jws.key_unsupported", "this node signs with P-256 keys only")
    return _implementations()[ALGORITHM].sign(signing_input, key)  # type: ignore[arg-type]


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
    except RecursionError:  # the parser's own bound, before it runs out of stack
        raise JwsError("jws.malformed", "JWS header nests arrays and objects too deeply to be read") from None
    if not isinstance(header, dict):
        raise JwsError("jws.malformed", "JWS header is not a JSON object")
    check_header(header)
    return header


def check_header(header: Mapping[str, Any]) -> None:
    """The checks `read_header` makes of a header the caller has already decoded: ES256, no crit."""
    if header.get("alg") != ALGORITHM:
        raise JwsError("jws.algorithm", f"algorithm {header.get('alg')!r} refused; only {ALGORITHM} is accepted")
    _no_critical(header)


def check_foreign_header(header: Mapping[str, Any]) -> None:
    """A header of another party's JWS: an algorithm this node verifies (never none or HMAC), no crit."""
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        raise JwsError(
            "jws.algorithm",
            f"algorithm {str(alg)[:20]!r} refused; accepted are {', '.join(sorted(ALGORITHMS))}",
        )
    _no_critical(header)


def _no_critical(header: Mapping[str, Any]) -> None:
    if "crit" in header:
        raise JwsError("jws.critical", "JWS header lists critical extensions this node does not understand")


def verify_signing_input(key: VerifyingKey, signing_input: bytes, signature: bytes, algorithm: str = ALGORITHM) -> None:
    """Check the signature over ``header.payload`` of a compact JWS whose parts the caller has already decoded and
    whose header names `algorithm`; raises JwsError('jws.key_unsupported' / 'jws.algorithm' / 'jws.signature')."""
    allowed = algorithms_for(key)
    if not allowed:
        raise JwsError("jws.key_unsupported", f"a {type(key).__name__} cannot verify signatures here")
    if algorithm not in allowed:
        raise JwsError(
            "jws.algorithm", f"algorithm {str(algorithm)[:20]!r} is not one this key signs with ({', '.join(allowed)})"
        )
    if not _implementations()[algorithm].verify(signing_input, key, signature):  # type: ignore[arg-type]
        raise JwsError("jws.signature", "signature does not verify with the expected key")


def read_payload_unverified(jws: str) -> bytes:
    read_header(jws)
    try:
        return b64url_decode(jws.split(".")[1])
    except ValueError:
        raise JwsError("jws.malformed", "JWS payload is not base64url") from None


def verify_compact(key: VerifyingKey, jws: str) -> tuple[dict[str, Any], bytes]:
    """Verify a compact ES256 JWS; returns (header, payload) or raises JwsError."""
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


def verify_detached(
    key: VerifyingKey, jws: str, payload: bytes, header: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Verify a detached compact ES256 JWS against the payload it covers; returns the header.

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
