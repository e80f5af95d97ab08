"""Status lists: W3C Bitstring Status List v1.0 (profile vc20-bssl/jwt) and Status List 2021 (vc11-sl2021/jwt).

The encoded list, the status list credential, and how long a copy is good for. ``encodedList`` is the GZIP-
compressed bitstring, base64url-encoded: with the multibase prefix ``u`` and no padding for a Bitstring Status
List; for a Status List 2021 (2023-04-27 draft: "base-64 encoded") also without the prefix, in either base64
alphabet with its canonical padding, as EDC and the draft's own examples write it. Index 0 is the most
significant bit of the first byte; a list holds at least 131,072 entries (16 KiB) in both.

Status list credentials are read in either data model: a VC 2.0 JOSE ``BitstringStatusListCredential`` (what
this node's authorities publish), or a VC 1.1 JWT (``vc`` claim) holding a ``StatusList2021Credential`` or a
``BitstringStatusListCredential`` (as EDC IssuerService publishes its lists). A credential's status entry must
point at a list of its own kind (``status.type_mismatch``).

Choices where the specifications leave room (the stricter one each time):
- Only ``statusSize`` 1 and the purposes ``revocation`` and ``suspension`` are understood; a set bit means the
  credential must not be accepted. Any other purpose or size cannot be evaluated and is refused.
- Decoding accepts exactly one GZIP member, no trailing bytes, and at most 16 MiB uncompressed (a small
  compressed list must not be able to expand without bound); the uncompressed length must be whole bytes of
  at least 16 KiB.
- The status list credential must be issued by the issuer of the credential it speaks for, by a key the trust
  store holds for that issuer, and the URL it was fetched from must fall under one of that issuer's status-list
  prefixes on every trust list naming it. Its ``id`` must equal that URL (the spec only says MAY).
- Validity: ``validUntil`` is required (DCP profile vc20-bssl/jwt: "use validUntil"); ``ttl`` is honoured only
  as a further bound on how long a fetched copy is fresh, never to extend validity.
- A status that cannot be established - list unreachable, stale beyond policy, expired, unverifiable - is a
  refusal (``status.unavailable``, ``status.stale``, ``status.list_expired``, ...); nothing fails open.
"""

from __future__ import annotations

import base64
import binascii
import enum
import gzip
import re
import secrets
import zlib
from collections import OrderedDict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from connector.canonical import b64url, b64url_decode
from connector.errors import ConnectorError
from connector.keys import PrivateKey
from connector.trust import vocab
from connector.trust.claims import StatusEntry
from connector.trust.compact import Jwt, did_of_kid, parse_jwt, sign_jwt, verify_signature
from connector.trust.credentials import read_envelope
from connector.trust.times import format_datetime, parse_datetime, require_aware, to_numeric_date
from connector.trust.trust_list import TrustList, TrustStore

MIN_ENTRIES = 131_072
MAX_BITSTRING_BYTES = 16 * 1024 * 1024
SUPPORTED_PURPOSES = ("revocation", "suspension")
_ENCODED = re.compile(r"^u[A-Za-z0-9_-]+$")
_ENCODED_2021 = re.compile(r"^(?:[A-Za-z0-9_-]+|[A-Za-z0-9+/]+={0,2})$")
# The kind of list each status entry type points at.
LIST_OF_ENTRY = {
    vocab.BITSTRING_STATUS_LIST_ENTRY: vocab.BITSTRING_STATUS_LIST,
    vocab.STATUS_LIST_2021_ENTRY: vocab.STATUS_LIST_2021,
}


# ---------------------------------------------------------------------------------------------------------
# The bitstring


def bitstring_with(indexes: Iterable[int], size: int = MIN_ENTRIES, base: bytes | None = None) -> bytes:
    """A bitstring of `size` bits (or `base`, copied) with the given indexes set."""
    if base is not None:
        bits = bytearray(base)
    else:
        if size < MIN_ENTRIES or size % 8:
            raise ConnectorError(
                "status.invalid", f"a status list holds a multiple of 8 entries, at least {MIN_ENTRIES}"
            )
        bits = bytearray(size // 8)
    for index in indexes:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(bits) * 8:
            raise ConnectorError("status.index_out_of_range", f"status index {index!r} is outside the list")
        bits[index // 8] |= 0x80 >> (index % 8)
    return bytes(bits)


def bit_is_set(bits: bytes, index: int) -> bool:
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(bits) * 8:
        raise ConnectorError(
            "status.index_out_of_range", f"status index {index!r} is outside the list of {len(bits) * 8} entries"
        )
    return bool(bits[index // 8] & (0x80 >> (index % 8)))


def set_indexes(bits: bytes) -> frozenset[int]:
    """Every index whose bit is set (for tests and for an issuer listing what it revoked)."""
    return frozenset(
        byte_index * 8 + bit for byte_index, byte in enumerate(bits) if byte for bit in range(8) if byte & (0x80 >> bit)
    )


def encode_bitstring(bits: bytes) -> str:
    """``u`` + base64url(no padding) of GZIP(bits); deterministic (mtime 0)."""
    if len(bits) * 8 < MIN_ENTRIES:
        raise ConnectorError("status.invalid", f"a status list holds at least {MIN_ENTRIES} entries")
    return "u" + b64url(gzip.compress(bytes(bits), compresslevel=9, mtime=0))


def decode_bitstring(encoded: object, max_bytes: int = MAX_BITSTRING_BYTES, *, status_list_2021: bool = False) -> bytes:
    """Inverse of `encode_bitstring`, with the bounds above; raises ConnectorError('status.list_malformed').

    With `status_list_2021`, the Status List 2021 spellings are read too: no multibase prefix, and standard
    base64 with its padding."""
    if not isinstance(encoded, str) or len(encoded) > max_bytes:
        raise ConnectorError("status.list_malformed", "encodedList is not multibase base64url (prefix 'u')")
    if _ENCODED.match(encoded):
        compressed = _canonical_b64url(encoded[1:])
    elif status_list_2021 and _ENCODED_2021.match(encoded):
        compressed = _canonical_b64(encoded)
    else:
        raise ConnectorError("status.list_malformed", "encodedList is not multibase base64url (prefix 'u')")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        bits = inflater.decompress(compressed, max_bytes + 1)
    except zlib.error:
        raise ConnectorError("status.list_malformed", "encodedList is not GZIP data") from None
    if len(bits) > max_bytes or inflater.unconsumed_tail:
        raise ConnectorError("status.list_malformed", f"status list expands beyond {max_bytes} bytes")
    if not inflater.eof or inflater.unused_data:
        raise ConnectorError("status.list_malformed", "encodedList is not exactly one complete GZIP member")
    if len(bits) * 8 < MIN_ENTRIES:
        raise ConnectorError(
            "status.list_too_short", f"status list holds {len(bits) * 8} entries; at least {MIN_ENTRIES} required"
        )
    return bits


def _canonical_b64url(text: str) -> bytes:
    try:
        compressed = b64url_decode(text)
    except ValueError:
        raise ConnectorError("status.list_malformed", "encodedList is not base64url") from None
    if b64url(compressed) != text:
        raise ConnectorError("status.list_malformed", "encodedList is not canonical unpadded base64url")
    return compressed


def _canonical_b64(text: str) -> bytes:
    """Status List 2021: base64url without padding, or standard base64 with exactly its padding."""
    if "+" not in text and "/" not in text and "=" not in text:
        return _canonical_b64url(text)
    try:
        compressed = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ConnectorError("status.list_malformed", "encodedList is not base64") from None
    if base64.b64encode(compressed).decode("ascii") != text:
        raise ConnectorError("status.list_malformed", "encodedList is not canonical base64")
    return compressed


def allocate_index(used: Collection[int], size: int = MIN_ENTRIES) -> int:
    """A random unused index (the spec asks for random assignment so positions reveal nothing)."""
    if len(used) >= size:
        raise ConnectorError("status.list_full", "every index of this status list is in use")
    while True:
        candidate = secrets.randbelow(size)
        if candidate not in used:
            return candidate


# ---------------------------------------------------------------------------------------------------------
# The status list credential


def issue_status_list_credential(
    key: PrivateKey,
    kid: str,
    issuer_did: str,
    url: str,
    revoked: Iterable[int],
    valid_from: datetime,
    valid_until: datetime,
    purpose: str = "revocation",
    base: bytes | None = None,
    size: int = MIN_ENTRIES,
    ttl: timedelta | None = None,
) -> str:
    """A BitstringStatusListCredential JWT for the list published at `url`, with `revoked` indexes set
    (on top of `base`, the previous bitstring, when given: revocation is not reversible)."""
    if purpose not in SUPPORTED_PURPOSES:
        raise ConnectorError("status.invalid", f"status purpose must be one of {SUPPORTED_PURPOSES}")
    kid_did, _ = did_of_kid(kid, "status")
    if kid_did != issuer_did:
        raise ConnectorError("status.invalid", "the signing key id is not a key of the issuer")
    if not valid_from < valid_until:
        raise ConnectorError("status.invalid", "validFrom must precede validUntil")
    bits = bitstring_with(revoked, size, base)
    subject: dict[str, object] = {
        "id": f"{url}#list",
        "type": vocab.BITSTRING_STATUS_LIST,
        "statusPurpose": purpose,
        "encodedList": encode_bitstring(bits),
    }
    if ttl is not None:
        subject["ttl"] = int(ttl.total_seconds() * 1000)
    claims = {
        "@context": [vocab.VC_CONTEXT],
        "id": url,
        "type": [vocab.VERIFIABLE_CREDENTIAL, vocab.BITSTRING_STATUS_LIST_CREDENTIAL],
        "issuer": issuer_did,
        "validFrom": format_datetime(valid_from),
        "validUntil": format_datetime(valid_until),
        "credentialSubject": subject,
        "iss": issuer_did,
        "jti": url,
        "iat": to_numeric_date(valid_from),
        "exp": to_numeric_date(valid_until),
    }
    return sign_jwt(key, claims, {"typ": vocab.VC_JWT_TYP, "kid": kid})


def issue_status_list_2021_credential(
    key: PrivateKey,
    kid: str,
    issuer_did: str,
    url: str,
    revoked: Iterable[int],
    valid_from: datetime,
    valid_until: datetime,
    purpose: str = "revocation",
    size: int = MIN_ENTRIES,
) -> str:
    """A StatusList2021Credential as a VC Data Model 1.1 JWT (profile vc11-sl2021/jwt) for the list at `url`."""
    if purpose not in SUPPORTED_PURPOSES:
        raise ConnectorError("status.invalid", f"status purpose must be one of {SUPPORTED_PURPOSES}")
    if did_of_kid(kid, "status")[0] != issuer_did:
        raise ConnectorError("status.invalid", "the signing key id is not a key of the issuer")
    if not valid_from < valid_until:
        raise ConnectorError("status.invalid", "validFrom must precede validUntil")
    vc = {
        "@context": [vocab.VC_V1_CONTEXT, "https://w3id.org/vc/status-list/2021/v1"],
        "id": url,
        "type": [vocab.VERIFIABLE_CREDENTIAL, vocab.STATUS_LIST_2021_CREDENTIAL],
        "issuer": issuer_did,
        "issuanceDate": format_datetime(valid_from),
        "expirationDate": format_datetime(valid_until),
        "credentialSubject": {
            "id": f"{url}#list",
            "type": vocab.STATUS_LIST_2021,
            "statusPurpose": purpose,
            "encodedList": encode_bitstring(bitstring_with(revoked, size))[1:],
        },
    }
    claims = {
        "iss": issuer_did,
        "sub": f"{url}#list",
        "jti": url,
        "nbf": to_numeric_date(valid_from),
        "iat": to_numeric_date(valid_from),
        "exp": to_numeric_date(valid_until),
        "vc": vc,
    }
    return sign_jwt(key, claims, {"typ": vocab.JWT_TYP, "kid": kid})


@dataclass(frozen=True)
class StatusList:
    """A verified status list credential."""

    url: str
    issuer: str
    purposes: frozenset[str]
    bits: bytes
    valid_from: datetime
    valid_until: datetime
    ttl: timedelta | None
    kind: str = vocab.BITSTRING_STATUS_LIST  # or STATUS_LIST_2021

    @property
    def size(self) -> int:
        return len(self.bits) * 8

    def is_set(self, index: int) -> bool:
        return bit_is_set(self.bits, index)


def _bad(why: str, where: str | None = None) -> ConnectorError:
    return ConnectorError("status.list_malformed", f"status list credential is malformed: {why}", where)


def verify_status_list(
    token: object,
    trust_store: TrustStore,
    expected_issuer: str,
    url: str,
    now: datetime,
    leeway: timedelta = timedelta(seconds=30),
) -> StatusList:
    """Verify a status list credential fetched from `url` for a credential of `expected_issuer`."""
    require_aware(now)
    jwt: Jwt = parse_jwt(token, "status", max_length=MAX_BITSTRING_BYTES)
    envelope = read_envelope(jwt, "status")
    if vocab.BITSTRING_STATUS_LIST_CREDENTIAL in envelope.types:
        kind = vocab.BITSTRING_STATUS_LIST
    elif vocab.STATUS_LIST_2021_CREDENTIAL in envelope.types and envelope.profile == vocab.PROFILE_VC11:
        kind = vocab.STATUS_LIST_2021
    else:
        raise _bad(
            "type does not include BitstringStatusListCredential (or, in VC 1.1, StatusList2021Credential)", "type"
        )
    if envelope.issuer != expected_issuer:
        raise ConnectorError("status.issuer_mismatch", "status list is not issued by the credential's issuer", "issuer")
    if not trust_store.status_list_allowed(envelope.issuer, url):
        raise ConnectorError(
            "status.url_not_allowed", "the issuer's trust list does not allow status lists at this URL", url[:200]
        )
    if envelope.id != url:
        raise ConnectorError(
            "status.url_mismatch", "status list credential id is not the URL it was fetched from", "id"
        )
    kid = jwt.kid or ""
    if did_of_kid(kid, "status")[0] != envelope.issuer:
        raise ConnectorError("status.kid_unknown", "status list is signed with a key of another party", "kid")
    try:
        key = trust_store.issuer_key(envelope.issuer, kid)
    except ConnectorError as exc:
        raise ConnectorError("status.kid_unknown", exc.reason, "kid") from None
    verify_signature(jwt, key, "status")
    subject = envelope.subject
    if subject.get("type") != kind:
        raise _bad(f"credentialSubject.type is not {kind}", "credentialSubject.type")
    raw_purpose = subject.get("statusPurpose")
    purposes = [raw_purpose] if isinstance(raw_purpose, str) else raw_purpose
    if not isinstance(purposes, list) or not purposes or not all(isinstance(p, str) for p in purposes):
        raise _bad("statusPurpose is not a string or list of strings", "credentialSubject.statusPurpose")
    if subject.get("statusSize", 1) != 1:
        raise ConnectorError("status.unsupported", "only status lists with statusSize 1 are supported", "statusSize")
    bits = decode_bitstring(subject.get("encodedList"), status_list_2021=kind == vocab.STATUS_LIST_2021)
    ttl_ms = subject.get("ttl") if kind == vocab.BITSTRING_STATUS_LIST else None
    ttl = None
    if ttl_ms is not None:
        if isinstance(ttl_ms, bool) or not isinstance(ttl_ms, int) or ttl_ms <= 0 or ttl_ms > 10**12:
            raise _bad("ttl is not a positive number of milliseconds", "credentialSubject.ttl")
        ttl = timedelta(milliseconds=ttl_ms)
    if envelope.valid_until is None:
        raise _bad("validUntil is required for status lists", "validUntil")
    status_list = StatusList(
        url, envelope.issuer, frozenset(purposes), bits, envelope.valid_from, envelope.valid_until, ttl, kind
    )
    check_list_times(status_list, now, leeway)
    return status_list


def valid_until_unverified(token: str) -> datetime | None:
    """The end of validity a status list credential of either data model claims, read without trusting it (for a
    cache that must forget a copy in time); None when it states none or cannot be read."""
    try:
        jwt = parse_jwt(token, "status", max_length=MAX_BITSTRING_BYTES)
        if "vc" not in jwt.claims:
            return parse_datetime(jwt.claims.get("validUntil"), "status.list_malformed", "validUntil")
        return read_envelope(jwt, "status").valid_until
    except ConnectorError:
        return None


def check_list_times(status_list: StatusList, now: datetime, leeway: timedelta) -> None:
    """The status list's own validity period at `now`; raises ConnectorError('status.list_*')."""
    if now + leeway < status_list.valid_from:
        raise ConnectorError("status.list_not_yet_valid", "status list is not valid yet", "validFrom")
    if now >= status_list.valid_until + leeway:
        raise ConnectorError(
            "status.list_expired", f"status list expired at {status_list.valid_until.isoformat()}", "validUntil"
        )


@dataclass(frozen=True)
class _Verified:
    token: str
    lists: tuple[TrustList, ...]  # the trust lists it was verified against
    status_list: StatusList


class VerifiedStatusLists:
    """Status list credentials already verified, by (URL, issuer). In memory, bounded by entries and bytes, LRU.

    The edge serves the same fetched copy until `StatusListCachePolicy` asks for a new one, and verifying it again
    (parsing, signature, inflating the bitstring) would give the same answer for the same token against the same
    trust lists: only the list's validity period depends on the time, and it is checked on every use. Freshness
    (how long ago the copy was fetched) stays the caller's check, so revocation is honoured as before.
    """

    def __init__(self, max_entries: int = 256, max_bytes: int = 64 * 1024 * 1024) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("max_entries and max_bytes must be positive")
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._bytes = 0
        self._entries: OrderedDict[tuple[str, str], _Verified] = OrderedDict()

    def verify(
        self,
        token: object,
        trust_store: TrustStore,
        expected_issuer: str,
        url: str,
        now: datetime,
        leeway: timedelta = timedelta(seconds=30),
    ) -> StatusList:
        """`verify_status_list`, answered from memory when this very token was verified against these lists."""
        key = (url, expected_issuer)
        entry = self._entries.get(key)
        if entry is not None and entry.token == token and _same(entry.lists, trust_store.lists):
            self._entries.move_to_end(key)
            check_list_times(entry.status_list, now, leeway)
            return entry.status_list
        self._drop(key)
        status_list = verify_status_list(token, trust_store, expected_issuer, url, now, leeway)
        assert isinstance(token, str)  # verify_status_list refuses anything else
        self._entries[key] = _Verified(token, trust_store.lists, status_list)
        self._bytes += _size(token, status_list)
        while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
            self._drop(next(iter(self._entries)))
        return status_list

    def _drop(self, key: tuple[str, str]) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= _size(entry.token, entry.status_list)

    def clear(self) -> None:
        self._entries.clear()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def bytes(self) -> int:
        return self._bytes


def _same(a: tuple[TrustList, ...], b: tuple[TrustList, ...]) -> bool:
    # Identity, not equality: a kept trust list is replaced by a new object whenever it changes, and comparing
    # whole lists would cost more than the verification saved.
    return len(a) == len(b) and all(x is y for x, y in zip(a, b))


def _size(token: str, status_list: StatusList) -> int:
    return len(token) + len(status_list.bits)


def check_status(entry: StatusEntry, status_list: StatusList) -> None:
    """Refuse a credential whose bit is set; raises ConnectorError('credential.revoked' / '.suspended')."""
    if entry.list_url != status_list.url:
        raise ConnectorError("status.url_mismatch", "status entry refers to another list", "statusListCredential")
    if LIST_OF_ENTRY.get(entry.type) != status_list.kind:
        raise ConnectorError(
            "status.type_mismatch", f"a {entry.type} cannot be looked up in a {status_list.kind}", "credentialStatus"
        )
    if entry.purpose not in status_list.purposes:
        raise ConnectorError(
            "status.purpose_mismatch", f"status list does not carry the {entry.purpose!r} purpose", "statusPurpose"
        )
    if status_list.is_set(entry.index):
        verb = "revoked" if entry.purpose == "revocation" else "suspended"
        raise ConnectorError(f"credential.{verb}", f"the credential has been {verb} by its issuer", "credentialStatus")


# ---------------------------------------------------------------------------------------------------------
# How long a fetched copy may be used


class Freshness(enum.Enum):
    FRESH = "fresh"  # use it
    MUST_REFETCH = "must_refetch"  # too old for policy: fetch again, do not use this copy
    UNUSABLE = "unusable"  # outside its own validity period: no copy of this version can be used


@dataclass(frozen=True)
class StatusListCachePolicy:
    """A fetched status list is fresh for `max_age` (or its ttl, whichever is shorter) and while valid."""

    max_age: timedelta = timedelta(minutes=5)
    leeway: timedelta = timedelta(seconds=30)

    def evaluate(
        self,
        fetched_at: datetime,
        valid_until: datetime,
        ttl: timedelta | None,
        now: datetime,
        valid_from: datetime | None = None,
    ) -> Freshness:
        require_aware(now)
        require_aware(fetched_at, "fetched_at")
        if now >= valid_until + self.leeway or (valid_from is not None and now + self.leeway < valid_from):
            return Freshness.UNUSABLE
        if fetched_at > now + self.leeway:
            return Freshness.MUST_REFETCH  # a fetch time in the future is not believable
        limit = self.max_age if ttl is None else min(self.max_age, ttl)
        if now - fetched_at > limit:
            return Freshness.MUST_REFETCH
        return Freshness.FRESH

    def evaluate_list(self, status_list: StatusList, fetched_at: datetime, now: datetime) -> Freshness:
        return self.evaluate(fetched_at, status_list.valid_until, status_list.ttl, now, status_list.valid_from)
