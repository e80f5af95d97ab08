"""Canonical JSON (RFC 8785, JCS) and the hashes built on it.

Everything that is signed or chained in this project is signed or chained over these bytes, so that any
verifier, in any language, can recompute them from the JSON alone.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

import rfc8785

_MAX_SAFE = 2**53 - 1


def _plain(value: Any) -> bool:
    """True when Python's own JSON encoder already writes the RFC 8785 form: no floats (JCS formats numbers its
    own way), integers within the I-JSON range, and ASCII keys (JCS sorts keys by UTF-16 code units, which for
    ASCII is the same order as Python's)."""
    stack = [value]
    pop, extend = stack.pop, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        # Exact types first (nearly everything): one identity test each instead of an isinstance chain.
        if kind is str or item is None or kind is bool:
            continue
        if kind is dict:
            try:
                if not "".join(item).isascii():  # all keys strings (join refuses others), all ASCII
                    return False
            except TypeError:
                return False
            extend(item.values())
            continue
        if kind is list:
            extend(item)
            continue
        if kind is int:
            if -_MAX_SAFE <= item <= _MAX_SAFE:
                continue
            return False
        # Subclasses and tuples: the general rules.
        if isinstance(item, str) or isinstance(item, bool):
            continue
        if isinstance(item, int):
            if -_MAX_SAFE <= item <= _MAX_SAFE:
                continue
            return False
        if isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str) or not key.isascii():
                    return False
                stack.append(child)
            continue
        if isinstance(item, (list, tuple)):
            extend(item)
            continue
        return False
    return True


# Built once: `json.dumps` with options constructs an encoder on every call.
_encode_plain = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False).encode


def canonical_bytes(value: Any) -> bytes:
    """The RFC 8785 canonical serialisation of a JSON value.

    Most documents here (DSP messages, policies, records) contain only strings, small integers and ASCII keys;
    for those the C JSON encoder produces the identical bytes much faster. Anything else goes through the full
    RFC 8785 encoder."""
    if _plain(value):
        return _encode_plain(value).encode("utf-8")
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
