"""The DCP verifier of every DSP request: the core's `Verification` plan, driven with real fetches.

For each request: the bearer token is checked against the TLS peer, the caller's DID document is fetched (or
taken from the short cache), the one plan step that remembers the token's jti runs on the store thread (so the
replay check is a single atomic insert-if-absent in the store, shared by every request and surviving restarts),
the caller's credential service is asked for a presentation unless a verified one may be reused, and every
credential's status list is fetched unless a fresh enough copy is cached. Anything that cannot be fetched is
the plan's refusal (fail closed). Then the node's own demand: every `required_credential_types` verified.

Every outcome is recorded (store table, and one log line: warning for a refusal, info when credentials were
verified anew, debug when a presentation was reused) with the exact check, the step and the peer. A refusal's
record is written before the refusal is answered; a verified request's record waits for the next transaction the
verifier runs anyway (the next token's replay record) or is written within moments, so that a warm request costs
one store round trip, not two. Reading the records through the management API writes the waiting ones first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web
from cryptography.hazmat.primitives.serialization import Encoding

from connector.config import TrustSection
from connector.errors import ConnectorError, Problem
from connector.evidence.recorder import NO_EVIDENCE, EvidenceRecorder
from connector.records.trust import VerificationRecord
from connector.store.errors import StoreError
from connector.store.interface import Store
from connector.trust.claims import RecognisedCredential, VerifiedClaims, VerifiedCredential
from connector.trust.did import DidDocument
from connector.trust.edge.fetching import Fetcher, FetchFailed
from connector.trust.edge.holder import Holder, bearer
from connector.trust.edge.recognitions import RecognitionKeeper
from connector.trust.edge.replay import StoreReplayCache
from connector.trust.outcomes import NeedStatusLists, Refusal
from connector.trust.registries import read_registry_facts
from connector.trust.scopes import type_scope
from connector.trust.status_list import StatusListCachePolicy, VerifiedStatusLists
from connector.trust.times import format_datetime
from connector.trust.verifier import (
    NeedDidDocument,
    NeedPresentation,
    PresentationCache,
    Verification,
    Verified,
    VerifierSettings,
    origin_of,
)

if TYPE_CHECKING:
    from connector.trust.edge.service import VerificationLog
    from connector.trust.edge.trust_lists import TrustListKeeper

log = logging.getLogger("connector.trust")

Clock = Callable[[], datetime]
Outcome = Verified | Refusal
EVIDENCE_KIND = "credential.verified"  # the evidence log's record kind for a verification (evidence.chain)
# Refusals a status list settles for good: keeping the list cached spares a refetch per request of a revoked peer.
SETTLED = frozenset({"credential.revoked", "credential.suspended"})


@dataclass(frozen=True)
class Demands:
    """What this node asks of every peer."""

    scopes: tuple[str, ...]
    required_types: tuple[str, ...]
    require_credentials: bool


def settings_from(trust: TrustSection) -> tuple[VerifierSettings, Demands]:
    leeway = timedelta(seconds=trust.clock_skew)
    settings = VerifierSettings(
        leeway=leeway,
        status_cache=StatusListCachePolicy(max_age=timedelta(seconds=trust.status_max_age), leeway=leeway),
        require_status=True,
        require_key_certificate=trust.require_key_certificate,
        credential_service_origins=frozenset(origin_of(o) for o in trust.credential_service_origins),
        max_token_lifetime=timedelta(seconds=trust.max_token_lifetime),
    )
    asked = tuple(dict.fromkeys(trust.credential_types + trust.required_credential_types))
    demands = Demands(tuple(type_scope(t) for t in asked), trust.required_credential_types, trust.require_credentials)
    return settings, demands


class DcpAuthenticator:
    """The verifier seam for DCP: every DSP request's token, DID document, presentation and credentials."""

    def __init__(
        self,
        trust: TrustSection,
        store: Store,
        keeper: TrustListKeeper,
        fetcher: Fetcher,
        holder: Holder,
        replay: StoreReplayCache,
        clock: Clock,
        records: VerificationLog,
        evidence: EvidenceRecorder = NO_EVIDENCE,
    ) -> None:
        self.store = store
        self.keeper = keeper
        self.fetcher = fetcher
        self.holder = holder
        self.replay = replay
        self.clock = clock
        self.records = records
        self.evidence = evidence
        self.settings, self.demands = settings_from(trust)
        self.recognitions = RecognitionKeeper(
            trust.recognitions, holder.identity.ca_cert.public_bytes(Encoding.DER), trust.reload_interval
        )
        reuse = trust.presentation_reuse
        self._reuse = timedelta(seconds=reuse) if reuse > 0 else None
        self.presentations: PresentationCache | None = None
        self.status_lists = VerifiedStatusLists()
        self.forget_presentations()

    def forget_presentations(self) -> None:
        """Drop every reusable presentation and verified status list (the trust lists changed, or a test wants a
        cold cache)."""
        self.presentations = PresentationCache(self._reuse) if self._reuse is not None else None
        self.status_lists.clear()

    # --- the seam -------------------------------------------------------------------------------------------------

    async def authenticate(self, request: web.Request) -> VerifiedClaims:
        from connector.log import request_id
        from connector.web.middleware import PEER, PEER_PROBLEM

        started = time.perf_counter()
        peer = request.get(PEER)
        peer_id = peer.participant_id if peer is not None else None
        header = request.headers.get("Authorization")
        # Without a certificate and without a problem with one, the listener lets certificates be optional: the
        # token alone names the peer (DCP 1.0).
        problem = request.get(PEER_PROBLEM)
        outcome: Outcome
        if peer_id is None and problem is not None:
            outcome = Refusal(problem, _certificate_holder(request), "certificate")
        elif peer_id is None:
            try:
                token = bearer(header)
            except ConnectorError as exc:
                outcome = Refusal(exc.problem, None, "token")
            else:
                outcome = await self.verify(token, None)
        elif header is None and not self.demands.require_credentials:
            outcome = Verified(VerifiedClaims(peer_id, self.clock(), notes={"credentials": "not_presented"}))
        else:
            try:
                token = bearer(header)
            except ConnectorError as exc:
                outcome = Refusal(exc.problem, peer_id, "token")
            else:
                outcome = await self.verify(token, peer_id)
        elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
        named = outcome.claims.participant_id if isinstance(outcome, Verified) else outcome.peer
        await self._report(
            outcome,
            peer_id or named,
            request.method,
            request.path,
            request_id.get(),
            elapsed_ms,
        )
        if isinstance(outcome, Refusal):
            details = {**dict(outcome.problem.details), "step": outcome.step}
            raise ConnectorError(outcome.code, outcome.reason, outcome.problem.where, **details)
        return outcome.claims

    # --- the driving loop -------------------------------------------------------------------------------------------

    async def verify(self, token: str, peer_id: str | None) -> Outcome:
        """Run the plan for one token presented over a TLS connection identified as `peer_id` (None: a connection
        without a client certificate; the token names the peer)."""
        store = self.store
        lists = self.keeper.trust_store()
        plan = Verification(
            self.holder.did,
            lists,
            self.demands.scopes,
            self.replay,
            self.settings,
            self.presentations,
            self.status_lists,
            self.recognitions.current(lists, self.clock()),
        )
        step = plan.check_token(token, peer_id, self.clock())
        while not isinstance(step, (Verified, Refusal)):
            url = None
            try:
                if isinstance(step, NeedDidDocument):
                    url = step.url
                    document = await self.fetcher.did_document(step.did, step.url)
                    # The one store round trip of a warm request: the token's jti is recorded (committed before
                    # the request is acted on), and earlier requests' verification records share the commit.
                    step = await store.run(self._with_document, plan, document, self.clock())
                elif isinstance(step, NeedPresentation):
                    url = step.url
                    own = self.holder.id_token(step.holder, step.access_token, self.clock())
                    body = await self.fetcher.presentation(step.url, step.body(), step.headers(own), step.holder)
                    step = plan.with_presentation(body, self.clock())
                elif isinstance(step, NeedStatusLists):
                    url = step.urls[0]
                    status_token, fetched_at = await self.fetcher.status_list(url, url in step.refetch)
                    step = plan.with_status_list(url, status_token, fetched_at, self.clock())
                else:  # pragma: no cover - the plan has no other steps
                    raise AssertionError(f"unknown verification step {step!r}")
            except FetchFailed as exc:
                step = plan.unavailable(str(exc), url)
        if isinstance(step, Refusal) and step.step == "status" and url is not None and step.code not in SETTLED:
            self.fetcher.forget_status(url)
        if isinstance(step, Verified):
            missing = [t for t in self.demands.required_types if not step.claims.of_type(t)]
            if self.demands.require_credentials and missing:
                return Refusal(
                    Problem(
                        "credential.required_missing",
                        f"the peer presented no verified {', '.join(missing)}",
                        "presentation",
                    ),
                    step.claims.participant_id,
                    "credentials",
                )
        return step

    def _with_document(self, db: Any, plan: Verification, document: DidDocument | bytes, now: datetime) -> Any:
        self.records.pending.write(db)
        with self.replay.bound(db):
            return plan.with_did_document(document, now)

    # --- recording -------------------------------------------------------------------------------------------------

    async def _evidence_of(
        self,
        claims: VerifiedClaims,
        peer: str | None,
        path: str,
        presentation_sha256: str | None,
        presented: tuple[str, ...],
    ) -> None:
        """Credentials verified anew (not a reused presentation) go into the evidence log: the hash of each as
        presented (what the agreement signatures cover) in the record, the credentials themselves as its subject,
        so that an exported bundle can show an auditor the peer's credentials, not only their hashes."""
        data = {
            "path": path,
            "presentation_sha256": presentation_sha256,
            "credentials": [
                {
                    **_summary(c),
                    "sha256": c.sha256,
                    "valid_until": format_datetime(c.valid_until) if c.valid_until else None,
                }
                for c in claims.credentials
            ],
        }
        if claims.recognised:
            data["recognised"] = [_recognised(r) for r in claims.recognised]
        try:
            await self.evidence.record(
                EVIDENCE_KIND, peer=peer, data=data, subject={"credentials": list(presented)} if presented else None
            )
        except (ConnectorError, StoreError) as exc:  # the verification stands; the log says what was lost
            log.error("credential verification not logged as evidence: %s", exc, extra={"peer": peer})

    async def _report(
        self, outcome: Outcome, peer: str | None, method: str, path: str, rid: str | None, elapsed_ms: float
    ) -> None:
        now = self.clock()
        if isinstance(outcome, Verified):
            claims = outcome.claims
            notes = claims.notes
            detail: dict[str, Any] = {
                "ms": elapsed_ms,
                "presentation": notes.get("presentation", notes.get("credentials")),
                "credentials": [_summary(c) for c in claims.credentials],
            }
            if claims.recognised:
                detail["recognised"] = [_recognised(r) for r in claims.recognised]
            if notes.get("recognitions_revoked"):
                detail["recognitionsRevoked"] = list(notes["recognitions_revoked"])
            record = VerificationRecord(
                format_datetime(now), peer, "verified", None, None, None, method, path, rid, detail
            )
            # A line at info when credentials were verified anew; a request served by a reused presentation is
            # already in the access log, and its record is in the table, so its line is debug.
            level = logging.INFO if detail["presentation"] == "fetched" else logging.DEBUG
            if log.isEnabledFor(level):
                log.log(
                    level,
                    "peer verified",
                    extra={
                        "peer": peer,
                        "path": path,
                        "credentials": len(claims.credentials),
                        "presentation": detail["presentation"],
                        "ms": elapsed_ms,
                    },
                )
            # Not awaited: written with the next request's replay record, or within moments (see the edge).
            self.records.record_soon(record)
            if detail["presentation"] == "fetched":
                await self._evidence_of(
                    claims, peer, path, notes.get("presentation_sha256"), notes.get("presented_credentials", ())
                )
        else:
            detail = {"ms": elapsed_ms}
            if outcome.problem.where:
                detail["where"] = outcome.problem.where
            if outcome.problem.details:
                detail["details"] = dict(outcome.problem.details)
            expired = self.keeper.expired_federations(now)
            if expired:
                detail["expired_trust_lists"] = expired
            record = VerificationRecord(
                format_datetime(now),
                peer,
                "refused",
                outcome.code,
                outcome.reason,
                outcome.step,
                method,
                path,
                rid,
                detail,
            )
            extra: dict[str, Any] = {"peer": peer, "path": path, "code": outcome.code, "step": outcome.step}
            if expired:
                extra["expired_trust_lists"] = expired
            log.warning("verification failed at %s: %s", outcome.step, outcome.reason, extra=extra)
            await self.records.record(record)  # written before the refusal is answered


def _summary(credential: VerifiedCredential) -> dict[str, Any]:
    """A verified credential as the verification record and the evidence log name it (with the registry check its
    issuer made, when it carries one: which entity, which registry, against which publication, when)."""
    summary: dict[str, Any] = {
        "id": credential.id,
        "types": [t for t in credential.types if t != "VerifiableCredential"],
        "issuer": credential.issuer,
        "federation": credential.federation,
    }
    try:
        facts = read_registry_facts(credential.subject)
    except ConnectorError:
        facts = None
    if facts is not None:
        summary["registration"] = {
            "legalEntity": facts.legal_entity,
            "legalName": facts.legal_name,
            "country": facts.address.country,
            **facts.registration_json(),
        }
    return summary


def _recognised(recognised: RecognisedCredential) -> dict[str, Any]:
    """A credential accepted through recognition statements, with its path, as records name it."""
    return {
        "credential": recognised.original.id,
        "federation": recognised.original.federation,
        "acceptedAs": [t for t in recognised.credential.types if t != "VerifiableCredential"],
        "by": recognised.credential.federation,
        "purposes": sorted(recognised.purposes) if recognised.purposes is not None else None,
        "path": [
            {"statement": step.statement, "by": step.by, "of": step.of, "accepted": step.accepted}
            for step in recognised.path
        ],
    }


def _certificate_holder(request: web.Request) -> str | None:
    """Who a refused certificate names (a revoked one still names its holder), for the record."""
    from connector.pki.certificates import participant_id_of
    from connector.web.tls import peer_certificate

    cert = peer_certificate(request.transport)
    return participant_id_of(cert) if cert is not None else None
