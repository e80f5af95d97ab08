"""Canonical JSON (RFC 8785, JCS) and the hashes built on it.

Everything that is signed or chained in this project is signed or chained over these bytes, so that any
verifier, in any language, can recompute them from the JSON alone.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import rfc8785


def canonical_bytes(value: Any) -> bytes:
    """The RFC 8785 canonical serialisation of a JSON value."""
    return rfc8785.dumps(value)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def json_sha256(value: Any) -> str:
    """Hex SHA-256 of the canonical form of a JSON value."""
    return sha256_hex(canonical_bytes(value))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


def b64url_decode(text: str) -> bytes:
    """Strict base64url without padding: any character outside the alphabet is an error, not skipped."""
    if not isinstance(text, str) or not _B64URL.match(text) or len(text) % 4 == 1:
        raise ValueError("not base64url")
    pad = "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(text + pad)
