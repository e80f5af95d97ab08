"""Compact JWTs as every artifact of this package travels: strict parsing, algorithms pinned to keys, named failures.

Each caller names what it is reading (``token``, ``credential``, ``presentation``...) and every failure comes
back as that name plus the failed check (``credential.signature``, ``token.algorithm``), so a refusal on the wire
says exactly which check of which artifact failed.

Stricter than RFC 7515/7519 where they leave room, because every leniency here is a malleability:
- each of the three parts must be canonical unpadded base64url (re-encoding the decoded bytes must give the
  same text), so no two strings carry the same signed content;
- header and payload must be JSON objects without duplicate member names or non-finite numbers;
- the algorithm is checked first (``<what>.algorithm``: only ES256, ES384, EdDSA, RS256 and PS256, never
  ``none`` or HMAC), then an empty signature part is refused as ``<what>.unsigned``; when the signature is
  checked, the header's algorithm must also be the one the chosen key's type signs with (``<what>.algorithm``
  again), so a token cannot pick how its key is used;
- keys are never taken from the token itself: ``jwk``, ``jku`` and ``x5u`` headers are refused, ``x5c`` only
  where the caller pins the certificate it must equal (trust lists).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from connector import jws
from connector.canonical import b64url, b64url_decode, canonical_bytes
from connector.errors import ConnectorError
from connector.keys import PrivateKey, VerifyingKey
from connector.trust.times import from_numeric_date, require_aware

# Large enough for a presentation carrying a handful of credentials, small enough to bound parsing work.
MAX_JWT_LENGTH = 512 * 1024
MAX_JSON_DEPTH = 32

_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")
_KEY_BEARING_HEADERS = ("jwk", "jku", "x5u")


@dataclass(frozen=True)
class Jwt:
    """A compact JWS split and decoded, not yet verified."""

    token: str
    header: Mapping[str, Any]
    claims: Mapping[str, Any]
    # As `parse_jwt` decoded them, so that checking the signature does not decode the token again.
    signing_input: bytes = field(default=b"", repr=False, compare=False)
    signature: bytes = field(default=b"", repr=False, compare=False)

    @property
    def kid(self) -> str | None:
        kid = self.header.get("kid")
        return kid if isinstance(kid, str) else None

    @property
    def algorithm(self) -> str:
        return str(self.header.get("alg"))


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate member {key!r}")
        result[key] = value
    return result


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _refuse_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of a JSON value (a scalar is 1), or the first depth found beyond `limit`."""
    if not isinstance(value, (dict, list)):
        return 1
    stack = [(value, 1)]
    deepest = 0
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > limit:
            return depth
        children = item.values() if isinstance(item, dict) else item
        # Only containers are stacked: a scalar member adds one level and nothing below it.
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
            elif depth + 1 > deepest:
                deepest = depth + 1
    return deepest


def strict_json(data: bytes | str, code: str, what: str) -> Any:
    """Parse JSON refusing duplicate names, NaN/Infinity, invalid UTF-8 and absurd nesting."""
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_float=_finite,
            parse_constant=_refuse_constant,
        )
    except (ValueError, RecursionError, UnicodeDecodeError, TypeError) as exc:
        raise ConnectorError(code, f"{what} is not valid JSON ({exc})") from None
    if _depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise ConnectorError(code, f"{what} nests JSON deeper than {MAX_JSON_DEPTH} levels")
    return value


def _part(text: str, what: str, name: str) -> bytes:
    if not _B64URL.match(text):
        raise ConnectorError(f"{what}.malformed", f"{what} {name} is not unpadded base64url", name)
    try:
        raw = b64url_decode(text)
    except ValueError:
        raise ConnectorError(f"{what}.malformed", f"{what} {name} is not base64url", name) from None
    if b64url(raw) != text:
        raise ConnectorError(f"{what}.malformed", f"{what} {name} is not canonical base64url", name)
    return raw


def parse_jwt(token: object, what: str, *, allow_x5c: bool = False, max_length: int = MAX_JWT_LENGTH) -> Jwt:
    """Split and decode a compact JWS; checks structure and that the algorithm is one this node verifies, not the
    signature."""
    if not isinstance(token, str):
        raise ConnectorError(f"{what}.malformed", f"{what} is not a string")
    if len(token) > max_length:
        raise ConnectorError(f"{what}.malformed", f"{what} is longer than {max_length} characters")
    parts = token.split(".")
    if len(parts) != 3:
        raise ConnectorError(f"{what}.malformed", f"{what} is not a compact JWS (three dot-separated parts)")
    header = strict_json(_part(parts[0], what, "header"), f"{what}.malformed", f"{what} header")
    if not isinstance(header, dict):
        raise ConnectorError(f"{what}.malformed", f"{what} header is not a JSON object")
    try:
        jws.check_foreign_header(header)  # the algorithm, before anything else is believed
    except jws.JwsError as exc:
        raise _renamed(exc, what) from None
    if parts[2] == "":
        raise ConnectorError(f"{what}.unsigned", f"{what} carries no signature")
    payload = _part(parts[1], what, "payload")
    signature = _part(parts[2], what, "signature")
    for name in _KEY_BEARING_HEADERS + (() if allow_x5c else ("x5c",)):
        if name in header:
            raise ConnectorError(
                f"{what}.embedded_key",
                f"{what} header names its own key ({name}); keys come from the trust store or DID document",
                name,
            )
    claims = strict_json(payload, f"{what}.malformed", f"{what} payload")
    if not isinstance(claims, dict):
        raise ConnectorError(f"{what}.malformed", f"{what} payload is not a JSON object")
    signing_input = token[: len(parts[0]) + 1 + len(parts[1])].encode("ascii")  # base64url text: ASCII
    return Jwt(token, MappingProxyType(header), MappingProxyType(claims), signing_input, signature)


def _renamed(exc: jws.JwsError, what: str) -> ConnectorError:
    check = exc.code.split(".", 1)[1] if "." in exc.code else "malformed"
    return ConnectorError(f"{what}.{check}", f"{what}: {exc.reason}", exc.where)


def verify_signature(jwt: Jwt, key: VerifyingKey, what: str) -> None:
    """Check the signature of a parsed JWT with a key the caller chose, by the algorithm that key's type signs with
    (the header must name it); raises ConnectorError('<what>.algorithm' / '<what>.signature' / ...)."""
    try:
        if jwt.signing_input:
            jws.verify_signing_input(key, jwt.signing_input, jwt.signature, jwt.algorithm)
        else:  # built by hand rather than by parse_jwt
            parsed = parse_jwt(jwt.token, what, allow_x5c=True)
            jws.verify_signing_input(key, parsed.signing_input, parsed.signature, parsed.algorithm)
    except jws.JwsError as exc:
        raise _renamed(exc, what) from None


def sign_jwt(key: PrivateKey, claims: Mapping[str, Any], header: Mapping[str, Any]) -> str:
    """A compact JWS over the RFC 8785 form of `claims` (deterministic bytes for a given claims set)."""
    return jws.sign_compact(key, canonical_bytes(dict(claims)), dict(header))


def optional_string(claims: Mapping[str, Any], name: str, what: str) -> str | None:
    """A claim that may be absent but, when present, is a non-empty string."""
    value = claims.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or value == "":
        raise ConnectorError(f"{what}.malformed", f"{what} claim {name!r} is not a non-empty string", name)
    return value


def required_string(claims: Mapping[str, Any], name: str, what: str) -> str:
    value = optional_string(claims, name, what)
    if value is None:
        raise ConnectorError(f"{what}.malformed", f"{what} lacks the {name!r} claim", name)
    return value


def optional_time(claims: Mapping[str, Any], name: str, what: str) -> datetime | None:
    if name not in claims:
        return None
    return from_numeric_date(claims[name], f"{what}.malformed", name)


def required_time(claims: Mapping[str, Any], name: str, what: str) -> datetime:
    if name not in claims:
        raise ConnectorError(f"{what}.malformed", f"{what} lacks the {name!r} claim", name)
    return from_numeric_date(claims[name], f"{what}.malformed", name)


def single_audience(claims: Mapping[str, Any], what: str) -> str:
    """The one audience of a token: a string, or a list holding exactly one string."""
    aud = claims.get("aud")
    if isinstance(aud, list) and len(aud) == 1:
        aud = aud[0]
    if not isinstance(aud, str) or aud == "":
        raise ConnectorError(f"{what}.audience", f"{what} must name exactly one audience", "aud")
    return aud


@dataclass(frozen=True)
class Window:
    """The validity window a token claims for itself."""

    issued_at: datetime | None
    not_before: datetime | None
    expires_at: datetime


def read_window(claims: Mapping[str, Any], what: str, *, require_iat: bool = True) -> Window:
    return Window(
        issued_at=required_time(claims, "iat", what) if require_iat else optional_time(claims, "iat", what),
        not_before=optional_time(claims, "nbf", what),
        expires_at=required_time(claims, "exp", what),
    )


def check_window(
    window: Window,
    what: str,
    now: datetime,
    leeway: timedelta,
    max_lifetime: timedelta | None,
) -> None:
    """Expired / not yet valid / issued in the future / lifetime too long, each with leeway for clock skew."""
    require_aware(now)
    if now >= window.expires_at + leeway:
        raise ConnectorError(f"{what}.expired", f"{what} expired at {window.expires_at.isoformat()}", "exp")
    if window.not_before is not None and window.not_before > now + leeway:
        raise ConnectorError(
            f"{what}.not_yet_valid", f"{what} is not valid before {window.not_before.isoformat()}", "nbf"
        )
    if window.issued_at is not None and window.issued_at > now + leeway:
        raise ConnectorError(f"{what}.not_yet_valid", f"{what} claims to be issued in the future", "iat")
    if window.issued_at is not None and window.expires_at <= window.issued_at:
        raise ConnectorError(f"{what}.lifetime", f"{what} expires before it was issued", "exp")
    if max_lifetime is not None:
        start = window.issued_at if window.issued_at is not None else window.not_before
        if start is None:
            raise ConnectorError(f"{what}.malformed", f"{what} states no issue time to bound its lifetime", "iat")
        if window.expires_at - start > max_lifetime:
            raise ConnectorError(
                f"{what}.lifetime",
                f"{what} lifetime exceeds the accepted maximum of {int(max_lifetime.total_seconds())} s",
                "exp",
            )


def did_of_kid(kid: str | None, what: str) -> tuple[str, str]:
    """Split an absolute DID URL key id (``did:...#fragment``) into (did, fragment)."""
    if not kid:
        raise ConnectorError(f"{what}.kid_unknown", f"{what} header names no key id (kid)", "kid")
    did, sep, fragment = kid.partition("#")
    if not sep or not did.startswith("did:") or fragment == "":
        raise ConnectorError(f"{what}.kid_unknown", f"{what} key id is not an absolute DID URL with a fragment", "kid")
    return did, fragment
