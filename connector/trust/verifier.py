"""The verifier seam: from a peer's ID token to `VerifiedClaims`, one fetched document at a time.

The plan is sans-I/O. The integrator's async edge drives it and does the fetching::

    plan = Verification(my_did, trust_store, scopes, replay_cache, settings, presentation_cache)
    step = plan.check_token(id_token, peer_tls_participant_id, now)
    while not isinstance(step, (Verified, Refusal)):
        try:
            if isinstance(step, NeedDidDocument):       # GET step.url
                step = plan.with_did_document(body, now)
            elif isinstance(step, NeedPresentation):    # POST step.url, body step.body(),
                own = issue_id_token(my_key, my_kid, my_did, step.holder, step.access_token, now)
                step = plan.with_presentation(response_body, now)   # headers step.headers(own)
            elif isinstance(step, NeedStatusLists):     # GET step.urls[0]; bypass caches for step.refetch
                step = plan.with_status_list(url, body, fetched_at, now)
        except FetchFailed as exc:                      # whatever the edge's transport raises
            step = plan.unavailable(str(exc))

Every failure is a `Refusal` naming the exact check (Problem code and reason), the peer, and the step; nothing
but a `Verified` step ever carries claims, so an edge that gives up half way has verified nothing (fail
closed). Calling a step out of order is a programming error and raises ``verification.out_of_order``.

Order of checks: the ID token's own claims first (structure, algorithm, iss = sub, channel binding to the TLS
participant id when the peer presented a client certificate, audience, times) so that no document is fetched for a
token that cannot pass; then the issuer's DID document (token signature with a capabilityInvocation key, optionally
the key's x5c chain to a federation CA, then replay); then the presentations of either DCP profile (holder
signature, audience, times, each credential against the trust store and of its presentation's profile, and that
every credential falls under a requested scope); then one status list per distinct URL - those of the credentials
and those of the recognition statements (`connector.trust.recognition`) through which this node's federation would
accept a credential of another federation. A revoked credential refuses the peer; a revoked statement is only not
applied.

Reuse: a verified presentation may be reused for the same peer and scopes until the earliest of its own
``exp`` (when it states one), ``max_reuse`` after it was verified, and the earliest credential expiry. Reuse
skips the presentation fetch only: the ID token is always checked in full, and credential status is always
re-established from a status list no older than the status cache policy allows, so revocation is honoured within
``max_age``.
A peer without a client certificate (`check_token` with no TLS participant id) is the token's issuer once every
check passed, as in DCP 1.0; it is refused at the end when a trust list vouching for one of its credentials'
issuers requires its members to present a certificate (``certificate.required``).
With a `VerifiedStatusLists`, a status list token already verified against the same trust lists is not verified
again (its validity period and the freshness of the copy still are, on every use).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from connector.errors import ConnectorError
from connector.recent import Recent, held_bytes
from connector.trust.claims import RecognisedCredential, StatusEntry, VerifiedClaims
from connector.trust.credentials import CheckedCredential, verify_credential
from connector.trust.did import DidDocument, parse_did, parse_did_document, verify_key_certificate
from connector.trust.outcomes import NeedStatusLists as NeedStatusLists
from connector.trust.outcomes import Refusal as Refusal
from connector.trust.presentations import (
    PresentationQueryMessage,
    parse_presentation_response,
    presentation_query,
    verify_presentation,
)
from connector.trust.recognition import Recognitions
from connector.trust.scopes import Scope, parse_scopes
from connector.trust.status_list import (
    Freshness,
    StatusList,
    StatusListCachePolicy,
    VerifiedStatusLists,
    check_status,
    verify_status_list,
)
from connector.trust.times import require_aware
from connector.trust.tokens import (
    DEFAULT_MAX_LIFETIME,
    IdTokenFacts,
    ReplayCache,
    UnverifiedIdToken,
    read_id_token,
    remember_id_token,
    verify_id_token,
)
from connector.trust.trust_list import TrustStore
from connector.trust.vocab import PRESENTATIONS_QUERY_PATH

PRESENTATIONS_BUDGET = 32 * 1024 * 1024  # bytes of verified presentations kept for reuse (one credential: 6 KB)


@dataclass(frozen=True)
class VerifierSettings:
    leeway: timedelta = timedelta(seconds=30)
    # Longest ID token accepted (exp - iat): the DCP TCK issues 600 s tokens, EDC 300 s by default.
    max_token_lifetime: timedelta = DEFAULT_MAX_LIFETIME
    max_presentation_lifetime: timedelta = timedelta(seconds=300)
    status_cache: StatusListCachePolicy = field(default_factory=StatusListCachePolicy)
    require_status: bool = True
    # Demand that DID-document keys chain to a federation CA (x5c). Peers whose DID documents carry no x5c
    # (e.g. plain EDC IdentityHub deployments) need this off.
    require_key_certificate: bool = True
    # Origins (https://host[:port]) where a peer's credential service may be besides its DID's own host.
    credential_service_origins: frozenset[str] = frozenset()


def origin_of(url: str) -> str:
    """`https://host[:port]` of a URL, lower-cased, with the default port left out."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"https": 443, "http": 80}.get(parts.scheme)
    return f"{parts.scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def credential_service_problem(did: str, url: str, allowed: frozenset[str]) -> str | None:
    """Why a verifier must not send a presentation query to `url` for `did`, or None. It goes only to an https
    URL without query or fragment on the DID's own host (or an origin the node was told to accept): a DID
    document must not be able to point the verifier, with its own identity, at another party."""
    parts = urlsplit(url)
    if parts.scheme != "https" or parts.query or parts.fragment or "@" in parts.netloc:
        return "the credential service must be an https URL without credentials, query or fragment"
    if origin_of(url) != origin_of(parse_did(did).url) and origin_of(url) not in allowed:
        return (
            f"the credential service of {did} is on {origin_of(url)}, not on the DID's own host; a verifier goes "
            "there only if trust.credential_service_origins names it"
        )
    return None


# ---------------------------------------------------------------------------------------------------------
# Steps


@dataclass(frozen=True)
class NeedDidDocument:
    did: str
    url: str


@dataclass(frozen=True)
class NeedPresentation:
    """Ask the holder's credential service; authenticate with an ID token of ours carrying `access_token`."""

    holder: str
    url: str
    query: PresentationQueryMessage
    access_token: str

    def body(self) -> bytes:
        return self.query.body()

    def headers(self, own_id_token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {own_id_token}", "Content-Type": "application/json"}


@dataclass(frozen=True)
class Verified:
    claims: VerifiedClaims


Step = NeedDidDocument | NeedPresentation | NeedStatusLists | Verified | Refusal


# ---------------------------------------------------------------------------------------------------------
# Reuse of verified presentations


@dataclass(frozen=True)
class CachedPresentation:
    holder: str
    scopes: tuple[str, ...]
    credentials: tuple[CheckedCredential, ...]
    presentation_sha256: str
    verified_at: datetime
    reusable_until: datetime


class PresentationCache:
    """Verified presentations by (holder, scopes), reusable for a bounded time. In memory, LRU, bounded by entries
    and by the bytes they hold (the checked credentials: their texts and claims), for a presentation may be as
    large as a credential service's answer (presentations.MAX_MESSAGE_BYTES). One holding more than an eighth of
    `max_bytes` is not kept: it is fetched again when next needed."""

    def __init__(
        self,
        max_reuse: timedelta = timedelta(minutes=5),
        max_entries: int = 1024,
        max_bytes: int = PRESENTATIONS_BUDGET,
    ) -> None:
        if max_entries < 1 or max_bytes < 1 or max_reuse <= timedelta(0):
            raise ValueError("max_entries, max_bytes and max_reuse must be positive")
        self.max_reuse = max_reuse
        largest = max_bytes // 8
        self._entries: Recent[tuple[str, tuple[str, ...]], CachedPresentation] = Recent(
            max_entries, max_bytes, lambda key, entry: held_bytes((key, entry), largest), largest
        )

    @staticmethod
    def _key(holder: str, scopes: Iterable[str]) -> tuple[str, tuple[str, ...]]:
        return holder, tuple(sorted(set(scopes)))

    def get(self, holder: str, scopes: Iterable[str], now: datetime) -> CachedPresentation | None:
        require_aware(now)
        key = self._key(holder, scopes)
        entry: CachedPresentation | None = self._entries.get(key)
        if entry is None:
            return None
        if now >= entry.reusable_until or now < entry.verified_at:
            self._entries.pop(key)
            return None
        return entry

    def put(
        self,
        holder: str,
        scopes: Iterable[str],
        credentials: Iterable[CheckedCredential],
        presentation_sha256: str,
        presentation_expires_at: datetime | None,
        now: datetime,
    ) -> CachedPresentation:
        """`presentation_expires_at` None: the presentation states no expiry (reuse is bounded by the rest)."""
        require_aware(now)
        creds = tuple(credentials)
        bounds = [now + self.max_reuse] + [c.valid_until for c in creds]
        until = min(bounds + ([presentation_expires_at] if presentation_expires_at is not None else []))
        key = self._key(holder, scopes)
        entry = CachedPresentation(holder, key[1], creds, presentation_sha256, now, until)
        self._entries[key] = entry
        return entry

    def forget(self, holder: str) -> None:
        for key in [k for k, _ in self._entries.items() if k[0] == holder]:
            self._entries.pop(key)

    def __len__(self) -> int:
        return len(self._entries)


# ---------------------------------------------------------------------------------------------------------
# The plan


class Verification:
    """One verification of one peer request. Not reusable; not thread-safe (one task drives it)."""

    def __init__(
        self,
        verifier_did: str,
        trust_store: TrustStore,
        scopes: Iterable[str | Scope],
        replay_cache: ReplayCache,
        settings: VerifierSettings | None = None,
        presentation_cache: PresentationCache | None = None,
        status_lists: VerifiedStatusLists | None = None,
        recognitions: Recognitions | None = None,
    ) -> None:
        parse_did(verifier_did)
        self.verifier_did = verifier_did
        self._all_lists = trust_store
        self._store = trust_store
        self._scopes: tuple[Scope, ...] = parse_scopes(str(s) for s in scopes)
        self._scope_texts = tuple(str(s) for s in self._scopes)
        self._replay = replay_cache
        self.settings = settings or VerifierSettings()
        self._cache = presentation_cache
        self._verify_list = status_lists.verify if status_lists is not None else verify_status_list
        self._expecting: type | None = None
        self._peer: str | None = None
        self._bound = True  # the token is bound to a TLS client certificate
        self._unverified: UnverifiedIdToken | None = None
        self._facts: IdTokenFacts | None = None
        self._document: DidDocument | None = None
        self._credentials: tuple[CheckedCredential, ...] = ()
        self._presentation: tuple[str, datetime | None] | None = None  # (sha256, exp) when freshly fetched
        self._pending: dict[str, set[str]] = {}  # status URL -> issuers whose credentials use it
        self._refetch: set[str] = set()
        self._status_seen: dict[str, str] = {}
        self._recognitions = recognitions
        self._statements: list[tuple[str, StatusEntry, str]] = []  # (statement id, status entry, its issuer)
        self._revoked_statements: set[str] = set()
        self._notes: dict[str, Any] = {"checks": []}
        self.step: Step | None = None

    # -- driving -------------------------------------------------------------------------------------------

    def _enter(self, expected: type) -> None:
        if self._expecting is not expected:
            raise ConnectorError(
                "verification.out_of_order", f"the verification is not waiting for {expected.__name__}"
            )

    def _finish(self, step: Step, expecting: type | None = None) -> Step:
        self.step = step
        self._expecting = expecting
        return step

    def _refuse(self, exc: ConnectorError, step: str) -> Refusal:
        refusal = Refusal(exc.problem, self._peer, step)
        self._finish(refusal)
        return refusal

    def _passed(self, check: str) -> None:
        self._notes["checks"].append(check)

    def check_token(self, token: object, peer_tls_participant_id: str | None, now: datetime) -> Step:
        """Start: every check of the peer's ID token that needs no document. `peer_tls_participant_id` None: the
        peer presented no client certificate, and the token alone names it."""
        if self.step is not None:
            raise ConnectorError("verification.out_of_order", "this verification has already started")
        self._peer = peer_tls_participant_id
        self._bound = peer_tls_participant_id is not None
        self._notes["channel"] = "tls" if self._bound else "token"
        try:
            require_aware(now)
            self._store = self._all_lists.valid_at(now)
            s = self.settings
            self._unverified = read_id_token(
                token, self.verifier_did, peer_tls_participant_id, now, s.leeway, s.max_token_lifetime
            )
            self._passed("token.claims")
            did = self._unverified.issuer
            self._peer = did
            return self._finish(NeedDidDocument(did, parse_did(did).url), NeedDidDocument)
        except ConnectorError as exc:
            return self._refuse(exc, "token")

    def with_did_document(self, document: bytes | str | Mapping[str, Any] | DidDocument, now: datetime) -> Step:
        """The peer's DID document: token signature, key certificate, replay; then presentations or status."""
        self._enter(NeedDidDocument)
        assert self._unverified is not None
        try:
            require_aware(now)
            issuer = self._unverified.issuer
            doc = document if isinstance(document, DidDocument) else parse_did_document(document, issuer)
            if doc.id != issuer:
                raise ConnectorError("token.document_mismatch", "the DID document supplied is not the token issuer's")
            self._document = doc
            facts = verify_id_token(self._unverified, doc)
            self._passed("token.signature")
            self._key_certificate(doc, facts.kid, now, "token")
            remember_id_token(self._replay, facts, now, self.settings.leeway)
            self._passed("token.replay")
            self._facts = facts
            self._notes["token_jti"] = facts.jti
            if not self._scopes:
                self._notes["presentation"] = "not_required"
                return self._complete(now)
            cached = self._reusable(issuer, now)
            if cached is None:
                return self._ask_presentation(doc, facts)
            self._notes["presentation"] = "cached"
            self._notes["presentation_sha256"] = cached.presentation_sha256
            self._credentials = cached.credentials
            return self._status_phase(now)
        except ConnectorError as exc:
            return self._refuse(exc, "did_document")

    def _reusable(self, holder: str, now: datetime) -> CachedPresentation | None:
        if self._cache is None:
            return None
        cached = self._cache.get(holder, self._scope_texts, now)
        if cached is not None and not all(c.valid_at(now, self.settings.leeway) for c in cached.credentials):
            self._cache.forget(holder)
            return None
        return cached

    def _key_certificate(self, doc: DidDocument, kid: str, now: datetime, what: str) -> None:
        if not self.settings.require_key_certificate:
            return
        try:
            verify_key_certificate(doc, kid, self._store.ca_certificates(), now, self._store.ca_der())
        except ConnectorError as exc:
            raise ConnectorError(f"{what}.key_certificate", exc.reason, "kid") from None
        self._passed(f"{what}.key_certificate")

    def _ask_presentation(self, doc: DidDocument, facts: IdTokenFacts) -> Step:
        if facts.access_token is None:
            raise ConnectorError(
                "token.access_token_missing",
                "credentials are required but the ID token carries no access token for the peer's credential service",
                "token",
            )
        base = doc.credential_service_url.rstrip("/")
        problem = credential_service_problem(doc.id, base, self.settings.credential_service_origins)
        if problem is not None:
            raise ConnectorError("did.service_invalid", problem, "service")
        step = NeedPresentation(
            doc.id, base + PRESENTATIONS_QUERY_PATH, presentation_query(self._scopes), facts.access_token
        )
        return self._finish(step, NeedPresentation)

    def with_presentation(self, response: bytes | str | Mapping[str, Any], now: datetime) -> Step:
        """The credential service's PresentationResponseMessage."""
        self._enter(NeedPresentation)
        assert self._document is not None
        try:
            require_aware(now)
            s = self.settings
            message = parse_presentation_response(response)
            holder = self._document.id
            checked: list[CheckedCredential] = []
            presented: list[str] = []  # the credentials exactly as presented, for the evidence log
            digests: list[str] = []
            expiries: list[datetime] = []
            for vp in message.presentation:
                presentation = verify_presentation(
                    vp, self._document, holder, self.verifier_did, now, s.leeway, s.max_presentation_lifetime
                )
                self._key_certificate(self._document, presentation.kid, now, "presentation")
                digests.append(presentation.sha256)
                if presentation.expires_at is not None:
                    expiries.append(presentation.expires_at)
                for token in presentation.credentials:
                    credential = verify_credential(token, self._store, holder, now, s.leeway, s.require_status)
                    if credential.profile != presentation.profile:
                        raise ConnectorError(
                            "presentation.heterogeneous",
                            f"a {presentation.profile} presentation carries a {credential.profile} credential "
                            "(DCP profiles: credentials and presentations are homogeneous)",
                            "verifiableCredential",
                        )
                    if not any(scope.matches(credential.types, credential.id) for scope in self._scopes):
                        raise ConnectorError(
                            "presentation.scope",
                            f"credential {credential.id!r} was not asked for",
                            "verifiableCredential",
                        )
                    checked.append(credential)
                    presented.append(token)
            self._passed("presentation")
            self._passed("credentials")
            self._credentials = tuple(checked)
            self._notes["presentation"] = "fetched"
            self._notes["presentation_sha256"] = ",".join(digests)
            self._notes["presented_credentials"] = tuple(presented)
            if digests:
                self._presentation = (",".join(digests), min(expiries) if expiries else None)
            return self._status_phase(now)
        except ConnectorError as exc:
            return self._refuse(exc, "presentation")

    def _status_phase(self, now: datetime) -> Step:
        self._pending = {}
        for credential in self._credentials:
            if credential.status is not None:
                self._pending.setdefault(credential.status.list_url, set()).add(credential.issuer)
        if self._recognitions is not None:
            # The statements that would recognise these credentials: their status is looked up like theirs.
            seen: dict[str, tuple[str, StatusEntry, str]] = {}
            for recognised in self._recognitions.candidates((c.verified() for c in self._credentials), now):
                for step in recognised.path:
                    if step.status is not None:
                        seen[step.statement] = (step.statement, step.status, step.issuer)
            self._statements = list(seen.values())
            for _, entry, issuer in self._statements:
                self._pending.setdefault(entry.list_url, set()).add(issuer)
        if not self._pending:
            return self._complete(now)
        return self._finish(NeedStatusLists(tuple(self._pending), frozenset(self._refetch)), NeedStatusLists)

    def with_status_list(self, url: str, token: object, fetched_at: datetime, now: datetime) -> Step:
        """One status list credential, as fetched from `url` at `fetched_at` (possibly from the edge's cache)."""
        self._enter(NeedStatusLists)
        if url not in self._pending:
            raise ConnectorError("verification.out_of_order", "this status list was not asked for", url[:200])
        try:
            require_aware(now)
            require_aware(fetched_at, "fetched_at")
            lists: list[StatusList] = []
            for issuer in sorted(self._pending[url]):
                try:
                    lists.append(self._verify_list(token, self._store, issuer, url, now, self.settings.leeway))
                except ConnectorError as exc:
                    if exc.code in ("status.list_expired", "status.list_not_yet_valid") and url not in self._refetch:
                        return self._again(url)
                    raise
            for status_list in lists:
                freshness = self.settings.status_cache.evaluate_list(status_list, fetched_at, now)
                if freshness is not Freshness.FRESH:
                    if url not in self._refetch:
                        return self._again(url)
                    raise ConnectorError(
                        "status.stale", "even a refetched status list is older than the policy allows", url[:200]
                    )
            by_issuer = {sl.issuer: sl for sl in lists}
            for credential in self._credentials:
                if credential.status is not None and credential.status.list_url == url:
                    check_status(credential.status, by_issuer[credential.issuer])
            for statement, entry, issuer in self._statements:
                if entry.list_url == url:
                    try:
                        check_status(entry, by_issuer[issuer])
                    except ConnectorError as exc:
                        if exc.code not in ("credential.revoked", "credential.suspended"):
                            raise
                        self._revoked_statements.add(statement)  # not applied; the peer is not refused for it
            self._status_seen[url] = fetched_at.isoformat()
            del self._pending[url]
            if self._pending:
                return self._finish(
                    NeedStatusLists(tuple(self._pending), frozenset(self._refetch & set(self._pending))),
                    NeedStatusLists,
                )
            self._passed("status")
            return self._complete(now)
        except ConnectorError as exc:
            return self._refuse(exc, "status")

    def _again(self, url: str) -> Step:
        self._refetch.add(url)
        return self._finish(
            NeedStatusLists(tuple(self._pending), frozenset(self._refetch & set(self._pending))), NeedStatusLists
        )

    def unavailable(self, reason: str = "", url: str | None = None) -> Refusal:
        """The edge could not fetch what the current step needs: refuse (fail closed)."""
        expecting = self._expecting
        if expecting is None:
            raise ConnectorError("verification.out_of_order", "the verification is not waiting for anything")
        code, step, what = {
            NeedDidDocument: ("did.unavailable", "did_document", "the DID document"),
            NeedPresentation: ("presentation.unavailable", "presentation", "the presentation"),
            NeedStatusLists: ("status.unavailable", "status", "a credential status"),
        }[expecting]
        detail = f": {reason}" if reason else ""
        return self._refuse(ConnectorError(code, f"{what} could not be obtained{detail}", url), step)

    def _complete(self, now: datetime) -> Step:
        assert self._peer is not None
        if not self._bound:
            federations = self._store.requiring_certificates(c.issuer for c in self._credentials)
            if federations:
                return self._refuse(
                    ConnectorError(
                        "certificate.required",
                        f"{', '.join(federations)} requires its members to present a client certificate from one "
                        "of its authorities; this peer presented none",
                    ),
                    "certificate",
                )
        if self._cache is not None and self._presentation is not None:
            digest, expiry = self._presentation
            self._cache.put(self._peer, self._scope_texts, self._credentials, digest, expiry, now)
        notes = {
            **self._notes,
            "checks": tuple(self._notes["checks"]),
            "status_lists": MappingProxyType(dict(self._status_seen)),
            "scopes": self._scope_texts,
        }
        credentials = tuple(c.verified() for c in self._credentials)
        recognised: tuple[RecognisedCredential, ...] = ()
        if self._recognitions is not None:
            revoked = frozenset(self._revoked_statements)
            if revoked:
                notes["recognitions_revoked"] = tuple(sorted(revoked))
            recognised = self._recognitions.candidates(credentials, now, revoked)
        claims = VerifiedClaims(
            participant_id=self._peer,
            verified_at=now,
            credentials=credentials,
            notes=MappingProxyType(notes),
            recognised=recognised,
        )
        return self._finish(Verified(claims))
