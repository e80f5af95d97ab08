"""Key material: ECDSA P-256 keys and certificates on disk, as JWKs, and their stable ids.

Every key in the project is ECDSA P-256 (signatures are ES256); one curve keeps the verifier's pinned
algorithm list at exactly one entry.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from connector.canonical import b64url, b64url_decode
from connector.errors import ConnectorError

PrivateKey = ec.EllipticCurvePrivateKey
PublicKey = ec.EllipticCurvePublicKey


def generate_key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def write_private_key(path: Path, key: PrivateKey) -> None:
    """Write a PEM private key readable by its owner only (0600), created with that mode from the start."""
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_public_file(path: Path, data: bytes) -> None:
    """Write a non-secret file atomically (no half-written certificate or CRL is ever visible)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def load_private_key(path: Path) -> PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except FileNotFoundError:
        raise ConnectorError("key.missing", f"private key file not found: {path}", str(path)) from None
    except ValueError as exc:
        raise ConnectorError("key.invalid", f"not a PEM private key: {path} ({exc})", str(path)) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ConnectorError("key.unsupported", f"key is not ECDSA P-256: {path}", str(path))
    return key


def load_certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(Path(path).read_bytes())
    except FileNotFoundError:
        raise ConnectorError("cert.missing", f"certificate file not found: {path}", str(path)) from None
    except ValueError as exc:
        raise ConnectorError("cert.invalid", f"not a PEM certificate: {path} ({exc})", str(path)) from None


def load_certificates(path: Path) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(Path(path).read_bytes())
    except FileNotFoundError:
        raise ConnectorError("cert.missing", f"certificate file not found: {path}", str(path)) from None
    except ValueError as exc:
        raise ConnectorError("cert.invalid", f"not a PEM certificate bundle: {path} ({exc})", str(path)) from None


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def cert_der_b64(cert: x509.Certificate) -> str:
    """Standard base64 of the DER certificate, as JWK `x5c` entries carry it."""
    import base64

    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")


def cert_from_der_b64(text: str) -> x509.Certificate:
    import base64

    return x509.load_der_x509_certificate(base64.b64decode(text))


def cert_sha256(cert: x509.Certificate) -> str:
    """Hex SHA-256 fingerprint of the DER certificate."""
    return cert.fingerprint(hashes.SHA256()).hex()


def public_jwk(key: PublicKey | PrivateKey) -> dict[str, str]:
    """The public JWK (RFC 7517) of a P-256 key."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        key = key.public_key()
    numbers = key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint (base64url SHA-256 over the required members in lexicographic order)."""
    required = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    data = json.dumps(required, separators=(",", ":"), sort_keys=True).encode()
    return b64url(hashlib.sha256(data).digest())


def key_from_jwk(jwk: dict[str, Any]) -> PublicKey:
    """A P-256 public key from its JWK; anything else is refused."""
    try:
        if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
            raise ValueError("only EC P-256 keys are accepted")
        x, y = jwk["x"], jwk["y"]
        if type(x) is str and type(y) is str:
            return _p256_key(x, y)
        return _p256_key_uncached(x, y)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConnectorError("key.jwk_invalid", f"unusable public JWK: {exc}") from None


@functools.lru_cache(maxsize=1024)
def _p256_key(x: str, y: str) -> PublicKey:
    # The same few peers' and issuers' keys are checked on every request; building the key object (point
    # decoding and the on-curve check) costs as much as a signature check. Key objects are immutable, and a
    # refused JWK raises, which is not cached.
    return _p256_key_uncached(x, y)


def _p256_key_uncached(x: Any, y: Any) -> PublicKey:
    return ec.EllipticCurvePublicNumbers(
        int.from_bytes(b64url_decode(x), "big"), int.from_bytes(b64url_decode(y), "big"), ec.SECP256R1()
    ).public_key()


def same_public_key(a: PublicKey | PrivateKey, b: PublicKey | PrivateKey) -> bool:
    return public_jwk(a) == public_jwk(b)
