"""DCP self-issued ID tokens and the access tokens they carry.

A participant authenticates each request with a self-issued ID token (DCP 1.0 base protocol): iss = sub = its
DID, aud = the verifier's DID, a random jti, iat, nbf, exp, signed with a key of its DID document (this node signs
ES256; it verifies every algorithm `connector.jws` pins to a key type). The
optional ``token`` claim carries an access token for the participant's own credential service, which the
verifier forwards inside an ID token of its own when it asks for presentations.

Checks and their Problem codes (ID token; access tokens use ``access_token.*`` the same way):
``token.malformed``, ``token.unsigned``, ``token.algorithm`` (``none``, HS*, anything unsupported, or not the
algorithm of the key's type),
``token.embedded_key``, ``token.type``, ``token.subject_mismatch`` (iss != sub), ``token.channel_binding``
(iss is not the participant id of the peer's TLS certificate), ``token.audience``, ``token.expired``,
``token.not_yet_valid``, ``token.lifetime``, ``token.document_mismatch``, ``token.kid_unknown``,
``token.kid_relationship``, ``token.key_unsupported``, ``token.signature``, ``token.replayed``.

Choices where DCP leaves room:
- ``kid``, when present, must be an absolute DID URL of the issuer; without it the document's one key usable for
  ID tokens is used (DCP 1.0 base protocol, validation step 3), and a document with none or several such keys
  is a refusal. The key must hold the ``capabilityInvocation`` relationship, as DCP 1.0 requires, unless the
  document does not distinguish signing purposes at all (see `connector.trust.did`).
- ``aud`` must be exactly the verifier DID (a string, or a list of exactly that one string).
- ``iat`` is required and the lifetime ``exp - iat`` is bounded (a setting, default 600 s: the DCP TCK issues
  600 s tokens; the tokens this node issues live much shorter), so the replay cache only has to remember a jti
  for that long; ``nbf`` is honoured when present.
- ``typ``, when present, must be ``JWT`` so that a credential, presentation or access token signed by the same
  key can never pass as an ID token.
- Channel binding: over a connection with a client certificate, the token issuer must equal the participant id
  taken from it; this is checked before any DID document is fetched. A peer without a client certificate (None,
  where the node allows it) is authenticated by the token alone, as DCP 1.0 and EDC do: its issuer's DID
  document is fetched, and the signature, audience, times and replay are checked exactly the same way.
- Replay: (iss, jti) is remembered until exp + leeway, only after the signature verified (forged tokens cannot
  fill the cache). A full in-memory cache refuses rather than forgets (fail closed).

Access tokens (issued by a participant for its own credential service, opaque to everyone else): header
``typ: at+jwt``; iss = aud = the credential-service owner, sub = the verifier it was issued to, space-delimited
``scope``, jti, iat, nbf, exp (the shape EDC's STS uses). The credential service accepts one only inside an ID
token signed by that same verifier, addressed to the owner, and bound to the verifier's TLS identity.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from connector.errors import ConnectorError
from connector.ids import new_urn
from connector.keys import PrivateKey, VerifyingKey
from connector.trust.compact import (
    Jwt,
    check_window,
    did_of_kid,
    optional_string,
    parse_jwt,
    read_window,
    required_string,
    required_time,
    sign_jwt,
    single_audience,
    verify_signature,
)
from connector.trust.did import CAPABILITY_INVOCATION, DidDocument, parse_did
from connector.trust.scopes import Scope, parse_scope, parse_scopes
from connector.trust.times import DEFAULT_MAX_TOKEN_LIFETIME, require_aware, to_numeric_date

DEFAULT_LIFETIME = timedelta(seconds=300)
DEFAULT_LEEWAY = timedelta(seconds=30)
DEFAULT_MAX_LIFETIME = DEFAULT_MAX_TOKEN_LIFETIME
ID_TOKEN_TYP = "JWT"
ACCESS_TOKEN_TYP = "at+jwt"

DocumentSource = DidDocument | Callable[[str], DidDocument]


def _new_jti() -> str:
    return new_urn()


def _require_own_kid(kid: str | None, did: str, what: str) -> str:
    kid_did, _ = did_of_kid(kid, what)
    if kid_did != did:
        raise ConnectorError(f"{what}.kid_unknown", f"key id {kid!r} does not belong to {did}", "kid")
    return kid or ""


# ---------------------------------------------------------------------------------------------------------
# Self-issued ID tokens


@dataclass(frozen=True)
class IdTokenFacts:
    """What a verified ID token establishes."""

    issuer: str
    kid: str  # the verification method that signed it ("" until a token without kid header is verified)
    jti: str
    issued_at: datetime
    expires_at: datetime
    access_token: str | None


@dataclass(frozen=True)
class UnverifiedIdToken:
    """An ID token whose claims passed every check that needs no key; the signature is still open."""

    jwt: Jwt
    facts: IdTokenFacts

    @property
    def issuer(self) -> str:
        return self.facts.issuer


def issue_id_token(
    key: PrivateKey,
    kid: str,
    issuer_did: str,
    audience_did: str,
    access_token: str | None,
    now: datetime,
    lifetime: timedelta = DEFAULT_LIFETIME,
    jti: str | None = None,
) -> str:
    """A self-issued ID token from `issuer_did` to `audience_did`, optionally carrying an access token."""
    require_aware(now)
    parse_did(issuer_did)
    parse_did(audience_did)
    _require_own_kid(kid, issuer_did, "token")
    iat = to_numeric_date(now)
    claims: dict[str, object] = {
        "iss": issuer_did,
        "sub": issuer_did,
        "aud": audience_did,
        "jti": jti or _new_jti(),
        "iat": iat,
        "nbf": iat,
        "exp": iat + int(lifetime.total_seconds()),
    }
    if access_token is not None:
        claims["token"] = access_token
    return sign_jwt(key, claims, {"typ": ID_TOKEN_TYP, "kid": kid})


def read_id_token(
    token: object,
    expected_audience: str,
    peer_tls_participant_id: str | None,
    now: datetime,
    leeway: timedelta = DEFAULT_LEEWAY,
    max_lifetime: timedelta = DEFAULT_MAX_LIFETIME,
) -> UnverifiedIdToken:
    """Every ID token check that needs no key: structure, algorithm, iss = sub, channel binding (unless the peer
    has no TLS identity, None), audience, times."""
    require_aware(now)
    jwt = parse_jwt(token, "token")
    typ = jwt.header.get("typ")
    if typ is not None and typ != ID_TOKEN_TYP:
        raise ConnectorError("token.type", f"a JWT of type {str(typ)[:50]!r} is not an ID token", "typ")
    claims = jwt.claims
    iss = required_string(claims, "iss", "token")
    sub = required_string(claims, "sub", "token")
    jti = required_string(claims, "jti", "token")
    access_token = optional_string(claims, "token", "token")
    if iss != sub:
        raise ConnectorError(
            "token.subject_mismatch", "ID token iss and sub differ; a self-issued token names one party", "sub"
        )
    if peer_tls_participant_id is not None and iss != peer_tls_participant_id:
        raise ConnectorError(
            "token.channel_binding",
            "ID token issuer is not the participant identified by the TLS connection",
            "iss",
            issuer=iss,
            tls_participant=peer_tls_participant_id,
        )
    if single_audience(claims, "token") != expected_audience:
        raise ConnectorError("token.audience", "ID token is addressed to another participant", "aud")
    window = read_window(claims, "token")
    check_window(window, "token", now, leeway, max_lifetime)
    kid = _require_own_kid(jwt.kid, iss, "token") if "kid" in jwt.header else ""
    facts = IdTokenFacts(iss, kid, jti, required_time(claims, "iat", "token"), window.expires_at, access_token)
    return UnverifiedIdToken(jwt, facts)


def _document_for(source: DocumentSource, did: str, what: str) -> DidDocument:
    document = source(did) if callable(source) else source
    if document.id != did:
        raise ConnectorError(f"{what}.document_mismatch", f"the DID document supplied is not that of {did}", "iss")
    return document


def _key_for(document: DidDocument, kid: str, relationship: str, what: str) -> tuple[str, VerifyingKey]:
    """(verification method id, key) for `kid`, or without one ("") the document's one usable key."""
    try:
        method, key = document.usable_key(kid or None, relationship)
        return method.id, key
    except ConnectorError as exc:
        check = {
            "did.key_unknown": "kid_unknown",
            "did.key_relationship": "kid_relationship",
            "did.key_unsupported": "key_unsupported",
        }.get(exc.code, "kid_unknown")
        raise ConnectorError(f"{what}.{check}", exc.reason, "kid") from None


def verify_id_token(unverified: UnverifiedIdToken, issuer_document: DocumentSource) -> IdTokenFacts:
    """Finish an ID token check: the signature, with a capabilityInvocation key of the issuer's DID document."""
    facts = unverified.facts
    document = _document_for(issuer_document, facts.issuer, "token")
    kid, key = _key_for(document, facts.kid, CAPABILITY_INVOCATION, "token")
    verify_signature(unverified.jwt, key, "token")
    return facts if kid == facts.kid else dataclasses.replace(facts, kid=kid)


def check_id_token(
    token: object,
    issuer_document: DocumentSource,
    expected_audience: str,
    peer_tls_participant_id: str | None,
    now: datetime,
    leeway: timedelta = DEFAULT_LEEWAY,
    max_lifetime: timedelta = DEFAULT_MAX_LIFETIME,
) -> IdTokenFacts:
    """All ID token checks but replay (see `remember_id_token`); raises ConnectorError('token.*')."""
    unverified = read_id_token(token, expected_audience, peer_tls_participant_id, now, leeway, max_lifetime)
    return verify_id_token(unverified, issuer_document)


# ---------------------------------------------------------------------------------------------------------
# Replay


class ReplayCache(Protocol):
    """Remembers (issuer, jti) pairs until they expire. A store-backed implementation must be atomic."""

    def remember(self, issuer: str, jti: str, until: datetime, now: datetime) -> bool:
        """Record the pair until `until`; False if it is already recorded and not yet expired.

        May raise ConnectorError when it cannot decide; callers treat that as a refusal (fail closed)."""
        ...


def _pair(issuer: str, jti: str) -> bytes:
    """(issuer, jti) as a key of fixed size: a jti is the peer's to choose, as long as its token may be."""
    return hashlib.sha256(f"{len(issuer)}:{issuer}{jti}".encode("utf-8", "surrogatepass")).digest()


class MemoryReplayCache:
    """A bounded in-memory ReplayCache. When full of unexpired entries it refuses new tokens, never forgets. It
    keeps a digest of each (issuer, jti), so its bound in entries is one in bytes too (22 MB full, by default)."""

    def __init__(self, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._max = max_entries
        self._entries: OrderedDict[bytes, datetime] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def _purge(self, now: datetime) -> None:
        expired = [k for k, until in self._entries.items() if until <= now]
        for k in expired:
            del self._entries[k]

    def remember(self, issuer: str, jti: str, until: datetime, now: datetime) -> bool:
        require_aware(now)
        require_aware(until, "until")
        pair = _pair(issuer, jti)
        seen = self._entries.get(pair)
        if seen is not None and seen > now:
            return False
        if pair not in self._entries and len(self._entries) >= self._max:
            self._purge(now)
            if len(self._entries) >= self._max:
                raise ConnectorError(
                    "token.replay_cache_full", "too many unexpired tokens to remember; refusing rather than forgetting"
                )
        self._entries[pair] = until
        return True


def remember_id_token(
    cache: ReplayCache, facts: IdTokenFacts, now: datetime, leeway: timedelta = DEFAULT_LEEWAY
) -> None:
    """Refuse a token already seen (same issuer and jti) within its acceptance window."""
    if not cache.remember(facts.issuer, facts.jti, facts.expires_at + leeway, now):
        raise ConnectorError("token.replayed", "this ID token (issuer, jti) was already used", "jti", jti=facts.jti)


# ---------------------------------------------------------------------------------------------------------
# Access tokens for the credential service


@dataclass(frozen=True)
class AccessGrant:
    """What a verifier may read from this credential service, established from its ID token and access token."""

    verifier: str
    scopes: tuple[Scope, ...]
    id_token: IdTokenFacts
    access_jti: str
    expires_at: datetime

    def permits(self, scope: str | Scope) -> bool:
        wanted = parse_scope(scope) if isinstance(scope, str) else scope
        return wanted.grant in {s.grant for s in self.scopes}

    def allowed(self, requested: Iterable[str | Scope]) -> tuple[Scope, ...]:
        """The requested scopes this grant covers, whichever alias spells them (DCP: answer 2xx with fewer
        entries, not an error)."""
        wanted = parse_scopes(str(s) for s in requested)
        granted = {s.grant for s in self.scopes}
        return tuple(s for s in wanted if s.grant in granted)


def issue_access_token(
    key: PrivateKey,
    kid: str,
    owner_did: str,
    verifier_did: str,
    scopes: Iterable[str],
    now: datetime,
    lifetime: timedelta = DEFAULT_LIFETIME,
) -> str:
    """An access token for `owner_did`'s own credential service, bound to `verifier_did` and `scopes`."""
    require_aware(now)
    parse_did(owner_did)
    parse_did(verifier_did)
    _require_own_kid(kid, owner_did, "access_token")
    parsed = parse_scopes(scopes)
    if not parsed:
        raise ConnectorError("access_token.scope", "an access token must grant at least one scope")
    iat = to_numeric_date(now)
    claims = {
        "iss": owner_did,
        "aud": owner_did,
        "sub": verifier_did,
        "scope": " ".join(str(s) for s in parsed),
        "jti": _new_jti(),
        "iat": iat,
        "nbf": iat,
        "exp": iat + int(lifetime.total_seconds()),
    }
    return sign_jwt(key, claims, {"typ": ACCESS_TOKEN_TYP, "kid": kid})


def check_access_token(
    id_token: object,
    verifier_document: DocumentSource,
    owner_document: DidDocument,
    peer_tls_participant_id: str | None,
    now: datetime,
    leeway: timedelta = DEFAULT_LEEWAY,
    max_lifetime: timedelta = DEFAULT_MAX_LIFETIME,
) -> AccessGrant:
    """Credential-service side: the verifier's ID token, then the access token inside it.

    The ID token must be signed by the verifier, addressed to the owner, and bound to the verifier's TLS
    identity when it has one (None: a verifier without a client certificate); the access token must be signed by
    the owner, addressed to the owner, and issued to that same verifier. Replay of the ID token is left to
    `remember_id_token`, as for any ID token.
    """
    owner = owner_document.id
    facts = check_id_token(id_token, verifier_document, owner, peer_tls_participant_id, now, leeway, max_lifetime)
    if facts.access_token is None:
        raise ConnectorError("access_token.missing", "the ID token carries no access token (token claim)", "token")
    what = "access_token"
    jwt = parse_jwt(facts.access_token, what)
    if jwt.header.get("typ") != ACCESS_TOKEN_TYP:
        raise ConnectorError(f"{what}.type", f"access tokens carry typ {ACCESS_TOKEN_TYP!r}", "typ")
    kid = _require_own_kid(jwt.kid, owner, what)
    verify_signature(jwt, _key_for(owner_document, kid, CAPABILITY_INVOCATION, what)[1], what)
    claims = jwt.claims
    if required_string(claims, "iss", what) != owner:
        raise ConnectorError(f"{what}.issuer", "access token was not issued by this credential service's owner", "iss")
    if single_audience(claims, what) != owner:
        raise ConnectorError(f"{what}.audience", "access token is meant for another credential service", "aud")
    if required_string(claims, "sub", what) != facts.issuer:
        raise ConnectorError(f"{what}.subject", "access token was issued to another verifier", "sub")
    window = read_window(claims, what)
    check_window(window, what, now, leeway, max_lifetime)
    scope_text = required_string(claims, "scope", what)
    try:
        scopes = parse_scopes(scope_text.split(" "))
    except ConnectorError as exc:
        raise ConnectorError(f"{what}.scope", exc.reason, "scope") from None
    jti = required_string(claims, "jti", what)
    return AccessGrant(facts.issuer, scopes, facts, jti, window.expires_at)
