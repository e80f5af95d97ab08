"""Large JSON values kept once, by their hash: how a JSON text is stored compactly and read back exactly. Pure.

A node keeps the same large values again and again: each negotiation's messages carry the same policy, every
signature the same certificates, every verified request the same credentials. Stored as they come, each copy
costs its full size. So a JSON text is stored as rows of a content-addressed table (its key the SHA-256 of the
row's exact text): `compact` replaces every large member of the value (an object, array or string of at least
`THRESHOLD` characters in the text) by a reference to the row that holds it, recursively, and returns the rows to
store; `expand` puts the referenced texts back, byte for byte. Parts shared by many values are stored once.

A stored row is one of:
- plain: the text itself (never begins with a control character; every row written before this format is one);
- ``COMPACT`` + the text with each part replaced by the JSON string of ``REF`` + the part's 64 hex digits
  (``"\\u0001<sha256>"``);
- ``JWS`` + the protected header of a compact JWS string (its decoded JSON, with the certificates of its ``x5c``
  replaced as above) + ``JWS`` + the rest of the string's text: a signature's header repeats its signer's
  certificates, base64url-encoded, so they cannot be shared as they stand.

A text holding the escape ``\\u0001`` itself (or a raw control character) is never compacted, so a reference is
never ambiguous; and every compaction is read back before it is used: what cannot be restored exactly is stored
plain.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable
from typing import Any, Protocol

from connector import jsontext

THRESHOLD = 512  # characters: smaller members stay inline (a reference and its row cost about 150 bytes)
MAX_DEPTH = 6
REF = "\x01"
COMPACT = "\x01"
JWS = "\x02"
_ESCAPED_REF = "\\u0001"
_TOKEN = re.compile(r'"\\u0001([0-9a-f]{64})"')
_B64URL = re.compile(r"[A-Za-z0-9_-]+")

Encode = Callable[[Any], str]  # a JSON value's text, as the table's texts are written (canonical, or sorted keys)
Fetch = Callable[[str], str | None]  # a stored row by its hash (None when there is none)
Parts = dict[str, str]  # hash -> stored row


class Known(Protocol):
    """Parts compacted before, by (encoding, threshold, depth, hash of the part's text): the part's row, and its own
    parts (a dict will do; the store's memory is bounded)."""

    def get(self, key: tuple[Encode, int, int, str], default: Any = None) -> Any: ...

    def __setitem__(self, key: tuple[Encode, int, int, str], value: tuple[str, Parts]) -> None: ...


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def is_compact(row: str) -> bool:
    return row[:1] in (COMPACT, JWS)


def compact(
    value: Any, text: str, encode: Encode, threshold: int = THRESHOLD, known: Known | None = None
) -> tuple[str, Parts]:
    """The row that stores `text` (the JSON text of `value`, as `encode` writes it) and the rows of its parts (its
    members of at least `threshold` characters: a smaller one for values known to repeat whole, a policy's rules).
    `known`, when given, remembers each part compacted, with the rows of its own parts, by its hash (and the encoding,
    threshold and depth it was found at), so that a part met again is not taken apart again: parts repeat, which is
    why they are parts, and a part's row is a function of its text alone."""
    if len(text) < threshold or _ESCAPED_REF in text or "\x01" in text or "\x02" in text:
        return text, {}
    parts: Parts = {}
    row = _compact(value, text, encode, parts, 0, threshold, known)
    if row == text:
        return text, {}
    restored = expand(row, parts.get)
    if restored != text:  # cannot happen for texts `encode` wrote; kept plain rather than ever stored wrong
        return text, {}
    return row, parts


def _compact(
    value: Any, text: str, encode: Encode, parts: Parts, depth: int, threshold: int, known: Known | None = None
) -> str:
    if type(value) is str:
        return _compact_jws(value, text, encode, parts) or text
    if depth >= MAX_DEPTH or not isinstance(value, (dict, list)):
        return text
    replaced: Any = None
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, child in items:
        if isinstance(child, str):
            if len(child) < threshold:
                continue
        elif not isinstance(child, (dict, list)) or not child:
            continue
        child_text = encode(child)
        if len(child_text) < threshold:
            continue
        sha = sha256_text(child_text)
        if sha not in parts:
            _part_of(child, child_text, sha, encode, parts, depth + 1, threshold, known)
        if replaced is None:
            replaced = dict(value) if isinstance(value, dict) else list(value)
        replaced[key] = REF + sha
    return text if replaced is None else COMPACT + encode(replaced)


def _part_of(
    child: Any, text: str, sha: str, encode: Encode, parts: Parts, depth: int, threshold: int, known: Known | None
) -> None:
    """Put the row of the part `child` (whose text hashes to `sha`) and the rows of its own parts into `parts`."""
    if known is None:
        parts[sha] = _compact(child, text, encode, parts, depth, threshold)
        return
    key = (encode, threshold, depth, sha)
    found = known.get(key)
    if found is None:
        own: Parts = {}
        found = (_compact(child, text, encode, own, depth, threshold, known), own)
        known[key] = found
    parts[sha] = found[0]
    for part_sha, row in found[1].items():  # a part met earlier in this value keeps the row it was given there
        parts.setdefault(part_sha, row)


def _compact_jws(value: str, text: str, encode: Encode, parts: Parts) -> str | None:
    """The JWS row of a compact JWS string whose header carries certificates (x5c), or None."""
    head, dot, rest = value.partition(".")
    if not dot or rest.count(".") != 1 or not _B64URL.fullmatch(head) or not text.startswith('"' + head):
        return None
    try:
        header_bytes = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))
        header_text = header_bytes.decode("utf-8")
        header = jsontext.loads(header_text)
    except (binascii.Error, ValueError):
        return None
    if _b64url(header_bytes) != head or not isinstance(header, dict):
        return None
    x5c = header.get("x5c")
    if not isinstance(x5c, list) or _ESCAPED_REF in header_text or "\x01" in header_text or "\x02" in header_text:
        return None
    for cert in x5c:
        quoted = f'"{cert}"' if isinstance(cert, str) and len(cert) >= THRESHOLD else None
        if quoted is None or quoted not in header_text or encode(cert) != quoted:
            continue
        sha = sha256_text(quoted)
        parts[sha] = quoted
        header_text = header_text.replace(quoted, f'"{_ESCAPED_REF}{sha}"')
    return JWS + header_text + JWS + text[1 + len(head) :]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def expand(row: str, fetch: Fetch) -> str:
    """The text a stored row stands for; raises LookupError when a part it refers to is missing."""
    kind = row[:1]
    if kind == COMPACT:
        return _TOKEN.sub(lambda match: _part(match[1], fetch), row[1:])
    if kind == JWS:
        header, _, rest = row[1:].partition(JWS)
        header = _TOKEN.sub(lambda match: _part(match[1], fetch), header)
        return '"' + _b64url(header.encode("utf-8")) + rest
    return row


def _part(sha: str, fetch: Fetch) -> str:
    row = fetch(sha)
    if row is None:
        raise LookupError(sha)
    return expand(row, fetch)


def references(row: str) -> list[str]:
    """The hashes of the parts a stored row refers to directly."""
    return _TOKEN.findall(row) if is_compact(row) else []
