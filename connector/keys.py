"""Key material: ECDSA P-256 keys and certificates on disk, as JWKs, and their stable ids.

Every key this project makes and signs with is ECDSA P-256 (signatures are ES256). Keys of other parties may
be of the other types the Decentralized Claims Protocol expects verifiers to handle: EC P-256 and P-384,
Ed25519, and RSA of at least 2048 bits (`VerifyingKey`, read from a JWK with `verifying_key_from_jwk`). Which
algorithm a key may verify is decided by its type alone (`connector.jws.algorithms_for`).
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from connector.atomic_write import write_atomically, write_new
from connector.canonical import b64url, b64url_decode
from connector.errors import ConnectorError

PrivateKey = ec.EllipticCurvePrivateKey
PublicKey = ec.EllipticCurvePublicKey
# A public key of another party that signatures may be checked with, and its private counterpart (tests, issuers).
VerifyingKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey
SigningKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey
MIN_RSA_BITS = 2048
# JWK curve name -> (curve, coordinate length in bytes) for the EC curves accepted from other parties.
EC_CURVES: dict[str, tuple[type[ec.EllipticCurve], int]] = {"P-256": (ec.SECP256R1, 32), "P-384": (ec.SECP384R1, 48)}


def generate_key() -> PrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def write_private_key(path: Path, key: PrivateKey) -> None:
    """Write a PEM private key readable by its owner only (0600), created with that mode from the start."""
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_atomically(Path(path), data, 0o600)


def write_public_file(path: Path, data: bytes) -> None:
    """Write a non-secret file atomically (no half-written certificate or CRL is ever visible)."""
    write_atomically(Path(path), data, 0o644)


def create_public_file(path: Path, data: bytes) -> None:
    """Create a non-secret file that must not exist yet, whole or not at all (FileExistsError if it does)."""
    write_new(Path(path), data, 0o644)


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


def public_jwk(key: VerifyingKey | SigningKey) -> dict[str, str]:
    """The public JWK (RFC 7517, RFC 8037) of a key of any supported type; a P-256 key gives kty, crv, x, y."""
    if isinstance(key, (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, rsa.RSAPrivateKey)):
        key = key.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        name = next((n for n, (curve, _) in EC_CURVES.items() if isinstance(key.curve, curve)), None)
        if name is None:
            raise ConnectorError("key.unsupported", f"EC curve {key.curve.name} is not supported")
        size = EC_CURVES[name][1]
        numbers = key.public_numbers()
        return {
            "kty": "EC",
            "crv": name,
            "x": b64url(numbers.x.to_bytes(size, "big")),
            "y": b64url(numbers.y.to_bytes(size, "big")),
        }
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}
    if isinstance(key, rsa.RSAPublicKey):
        rsa_numbers = key.public_numbers()
        return {"kty": "RSA", "n": b64url(_unsigned(rsa_numbers.n)), "e": b64url(_unsigned(rsa_numbers.e))}
    raise ConnectorError("key.unsupported", f"{type(key).__name__} keys are not supported")


def _unsigned(value: int) -> bytes:
    """Big-endian bytes without leading zeros (RFC 7518 6.3.1)."""
    return value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big")


_THUMBPRINT_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"), "RSA": ("e", "kty", "n")}


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 thumbprint (base64url SHA-256 over the required members in lexicographic order)."""
    members = _THUMBPRINT_MEMBERS.get(str(jwk.get("kty")), ())
    if not members:
        raise ConnectorError("key.jwk_invalid", f"no thumbprint for key type {str(jwk.get('kty'))[:20]!r}")
    required = {k: jwk[k] for k in members}
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


def same_public_key(a: VerifyingKey | SigningKey, b: VerifyingKey | SigningKey) -> bool:
    return public_jwk(a) == public_jwk(b)


def verifying_key_from_jwk(jwk: dict[str, Any]) -> VerifyingKey:
    """A public key of any supported type from its JWK: EC P-256 or P-384, OKP Ed25519, RSA of at least 2048 bits.

    Strict: every member is canonical unpadded base64url, EC coordinates and Ed25519 keys have exactly the
    curve's length, and anything else (other curves, private members, short RSA moduli) is refused with
    ConnectorError('key.jwk_invalid')."""
    try:
        if not isinstance(jwk, dict):
            raise ValueError("a JWK is a JSON object")
        if any(name in jwk for name in ("d", "p", "q", "dp", "dq", "qi", "oth", "k")):
            raise ValueError("the JWK carries private key material")
        kty = jwk.get("kty")
        names = ("kty", "crv", "x", "y") if kty == "EC" else ("kty", "crv", "x") if kty == "OKP" else ("kty", "n", "e")
        values = tuple(jwk.get(name) for name in names)
        if not all(type(v) is str for v in values):
            raise ValueError(f"members {', '.join(names)} must be strings")
        return _verifying_key(values)
    except (KeyError, TypeError, ValueError) as exc:
        raise ConnectorError("key.jwk_invalid", f"unusable public JWK: {exc}") from None


@functools.lru_cache(maxsize=1024)
def _verifying_key(values: tuple[str, ...]) -> VerifyingKey:
    # As for `_p256_key`: the same few keys are checked on every request; refusals raise and are not cached.
    kty = values[0]
    if kty == "EC":
        _, crv, x, y = values
        if crv not in EC_CURVES:
            raise ValueError(f"EC curve {crv[:20]!r} is not supported (P-256, P-384)")
        curve, size = EC_CURVES[crv]
        xb, yb = _canonical(x), _canonical(y)
        if len(xb) != size or len(yb) != size:
            raise ValueError(f"{crv} coordinates are {size} bytes each")
        return ec.EllipticCurvePublicNumbers(int.from_bytes(xb, "big"), int.from_bytes(yb, "big"), curve()).public_key()
    if kty == "OKP":
        _, crv, x = values
        if crv != "Ed25519":
            raise ValueError(f"OKP curve {crv[:20]!r} is not supported (Ed25519)")
        raw = _canonical(x)
        if len(raw) != 32:
            raise ValueError("an Ed25519 key is 32 bytes")
        return ed25519.Ed25519PublicKey.from_public_bytes(raw)
    if kty == "RSA":
        _, n_text, e_text = values
        n, e = int.from_bytes(_canonical(n_text), "big"), int.from_bytes(_canonical(e_text), "big")
        if n.bit_length() < MIN_RSA_BITS:
            raise ValueError(f"RSA keys must have at least {MIN_RSA_BITS} bits")
        return rsa.RSAPublicNumbers(e, n).public_key()
    raise ValueError(f"key type {kty[:20]!r} is not supported (EC, OKP, RSA)")


def _canonical(text: str) -> bytes:
    raw = b64url_decode(text)
    if b64url(raw) != text:
        raise ValueError("JWK members are canonical unpadded base64url")
    return raw
