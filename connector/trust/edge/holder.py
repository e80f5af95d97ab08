"""This node as a holder: its DID document, its credentials, the tokens it sends, its credential service.

- DID document: the signing key as a JsonWebKey2020 with ``x5c`` = [signing certificate, CA certificate], the
  CredentialService (``<public URL>/dcp``) and the DSP DataService entries.
- Credentials: the JWT files named in ``[identity] credentials``, loaded into the store at start (and again when
  the node reloads its identity), and those issuers delivered over DCP (`connector.trust.edge.issuance`), kept in
  the store. A file that is missing, is not a JWT VC, or is about another participant stops the node with an
  error naming the entry (at a reload: the reload is refused and the credentials in use stay).
- Outgoing: every DSP request carries a fresh self-issued ID token (own jti, short lifetime) addressed to the
  peer, with an access token for our credential service bound to that peer and to the types we hold (reused for
  half its lifetime, for the ACCESS_KEPT peers lately asked).
- Credential service (DCP presentation query): the verifier's ID token must be bound to its TLS identity (when
  certificates are optional, a verifier without one is named by the token alone, as DCP 1.0 has it), signed by
  it, addressed to us, not replayed, and carry an access token we issued to it; it gets a presentation signed by
  our signing key holding the credentials its scopes and our grant both cover.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from connector.canonical import sha256_hex
from connector.config import TrustSection
from connector.errors import ConfigError, ConnectorError, Problem
from connector.identity import NodeIdentity
from connector.recent import Recent
from connector.records.trust import OwnCredential, VerificationRecord
from connector.store.interface import Store
from connector.store.sql import trust as repo
from connector.trust.edge.replay import StoreReplayCache
from connector.trust.times import format_datetime
from connector.web.endpoints import PublicEndpoints

if TYPE_CHECKING:  # DIDs and tokens load with the first DSP request sent, DID document served or query answered
    from connector.trust.did import DidDocument
    from connector.trust.edge.fetching import Fetcher
    from connector.trust.tokens import IdTokenFacts

log = logging.getLogger("connector.trust")

ACCESS_KEPT = 1024  # peers whose access token is kept for reuse, within 4 KiB each of their DID and token

Clock = Callable[[], datetime]
CREDENTIAL_SERVICE_PATH = "/dcp"
PRESENTATION_LIFETIME = timedelta(seconds=300)


class Holder:
    """This node as a holder of credentials; `identity` is its signing identity (keys and certificates)."""

    def __init__(
        self,
        identity: NodeIdentity,
        endpoints: PublicEndpoints,
        credential_files: tuple[Path, ...],
        settings: TrustSection,
        store: Store,
        fetcher: Fetcher,
        replay: StoreReplayCache,
        clock: Clock,
        on_outcome: Callable[[VerificationRecord], Awaitable[None]],
        certificate_optional: bool = False,
    ) -> None:
        self.identity = identity
        self.certificate_optional = certificate_optional
        self.endpoints = endpoints
        self.credential_files = credential_files
        self.store = store
        self.fetcher = fetcher
        self.replay = replay
        self.clock = clock
        self.on_outcome = on_outcome  # where refusals at the credential service are recorded
        self.leeway = timedelta(seconds=settings.clock_skew)
        self.token_lifetime = timedelta(seconds=settings.token_lifetime)
        self.max_token_lifetime = timedelta(seconds=settings.max_token_lifetime)
        self.credentials: list[OwnCredential] = []
        self._document_json: dict[str, Any] | None = None
        self._document: DidDocument | None = None
        # verifier -> (access token, reuse until), for as many peers as ACCESS_KEPT: every counterparty has one
        self._access: Recent[str, tuple[str, datetime]] = Recent(
            ACCESS_KEPT, ACCESS_KEPT * 4096, lambda verifier, kept: len(verifier) + len(kept[0]), largest=16 * 1024
        )

    @property
    def did(self) -> str:
        return self.identity.participant_id

    # --- DID document -------------------------------------------------------------------------------------------

    def document_json(self) -> dict[str, Any]:
        if self._document_json is None:
            from connector.trust.did import DidKey, build_did_document

            identity = self.identity
            fragment = identity.signing_kid.split("#", 1)[1]
            key = DidKey(fragment, identity.signing_key.public_key(), (identity.signing_cert, identity.ca_cert))
            self._document_json = build_did_document(
                self.did, [key], self.endpoints.protocol() + CREDENTIAL_SERVICE_PATH, self.endpoints.dsp()
            )
        return self._document_json

    def document(self) -> DidDocument:
        if self._document is None:
            from connector.trust.did import parse_did_document

            self._document = parse_did_document(self.document_json(), self.did)
        return self._document

    # --- credentials ----------------------------------------------------------------------------------------------

    async def load_credentials(self) -> None:
        now = self.clock()
        loaded: list[OwnCredential] = []
        for i, path in enumerate(self.credential_files):
            from connector.trust.credentials import read_credential_unverified  # with the first credential file

            where = f"identity.credentials[{i}]"
            try:
                token = path.read_text(encoding="ascii").strip()
            except FileNotFoundError:
                raise ConfigError("config.missing_file", f"credential file not found: {path}", where) from None
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError("identity.credential_invalid", f"cannot read {path}: {exc}", where) from None
            try:
                envelope = read_credential_unverified(token)
            except ConnectorError as exc:
                raise ConfigError(
                    "identity.credential_invalid", f"{path} is not a JWT verifiable credential: {exc.reason}", where
                ) from None
            subject = envelope.subject.get("id")
            if subject != self.did:
                raise ConfigError(
                    "identity.credential_subject",
                    f"{path} is a credential about {subject}, not about this participant ({self.did})",
                    where,
                )
            until = envelope.valid_until
            if until is not None and until <= now:
                log.warning(
                    "a configured credential has expired; peers will refuse it",
                    extra={"key": where, "credential": envelope.id, "expired": format_datetime(until)},
                )
            loaded.append(
                OwnCredential(
                    id=envelope.id,
                    types=envelope.types,
                    issuer=envelope.issuer,
                    valid_until=format_datetime(until) if until else None,
                    sha256=sha256_hex(token.encode("ascii")),
                    token=token,
                    source=str(path),
                    loaded_at=format_datetime(now),
                )
            )
        await self.store.run(repo.replace_own_credentials, loaded)
        self.credentials = await self.store.read(repo.own_credentials)
        self._access.clear()
        if self.credentials:
            log.info("credentials loaded", extra={"credentials": len(self.credentials), "types": sorted(self.types())})

    async def reload_stored(self) -> None:
        """Present what the store holds now (credentials an issuer just delivered)."""
        self.credentials = await self.store.read(repo.own_credentials)
        self._access.clear()

    def use_identity(self, identity: NodeIdentity) -> None:
        """A reloaded identity (a rotated signing key or certificate): the DID document and the access tokens
        follow it."""
        self.identity = identity
        self._document_json = None
        self._document = None
        self._access.clear()

    def types(self) -> set[str]:
        return {t for c in self.credentials for t in c.types if t != "VerifiableCredential"}

    # --- outgoing ---------------------------------------------------------------------------------------------------

    def _access_token(self, verifier: str, now: datetime) -> str | None:
        from connector.trust.scopes import type_scope
        from connector.trust.tokens import issue_access_token

        scopes = sorted(type_scope(t) for t in self.types())
        if not scopes:
            return None
        cached: tuple[str, datetime] | None = self._access.get(verifier)
        if cached is not None and now < cached[1]:
            return cached[0]
        identity = self.identity
        token = issue_access_token(
            identity.signing_key, identity.signing_kid, self.did, verifier, scopes, now, self.token_lifetime
        )
        self._access[verifier] = (token, now + self.token_lifetime / 2)
        return token

    def id_token(self, audience: str, access_token: str | None, now: datetime) -> str:
        from connector.trust.tokens import issue_id_token

        identity = self.identity
        return issue_id_token(
            identity.signing_key, identity.signing_kid, self.did, audience, access_token, now, self.token_lifetime
        )

    async def authorization_for(self, peer: str) -> str | None:
        """The Authorization header for a DSP request to `peer` (None if `peer` is no did:web participant)."""
        from connector.trust.did import parse_did

        try:
            parse_did(peer)
        except ConnectorError:
            return None
        now = self.clock()
        return f"Bearer {self.id_token(peer, self._access_token(peer, now), now)}"

    # --- the credential service ---------------------------------------------------------------------------------------

    async def presentation_query(self, request: web.Request) -> web.Response:
        from connector.log import request_id
        from connector.trust.presentations import (  # the credential service's part: with the first query
            PresentationResponseMessage,
            issue_presentations,
            parse_presentation_query,
            select_credentials,
        )
        from connector.trust.tokens import check_access_token, read_id_token
        from connector.web.middleware import PEER, PEER_PROBLEM

        peer = request.get(PEER)
        bound = peer.participant_id if peer is not None else None
        named = bound
        now = self.clock()
        try:
            problem = request.get(PEER_PROBLEM)
            if peer is None and (problem is not None or not self.certificate_optional):
                found = problem or Problem("auth.no_peer", "the credential service needs a mutual-TLS peer")
                raise ConnectorError(found.code, found.reason)
            token = bearer(request.headers.get("Authorization"))
            unverified = read_id_token(token, self.did, bound, now, self.leeway, self.max_token_lifetime)
            named = unverified.issuer
            verifier_document = await self.fetcher.resolve(unverified.issuer)
            grant = check_access_token(
                token,
                verifier_document,
                self.document(),
                bound,
                now,
                self.leeway,
                self.max_token_lifetime,
            )
            await self.store.run(self._remember, grant.id_token, now)
        except ConnectorError as exc:
            await self._record(request, named, exc, now, request_id.get())
            return web.json_response({"code": exc.code, "reason": exc.reason}, status=401)
        try:
            query = parse_presentation_query(await request.read())
        except ConnectorError as exc:
            status = 501 if exc.code == "dcp.presentation_definition_unsupported" else 400
            return web.json_response({"code": exc.code, "reason": exc.reason}, status=status)
        allowed = grant.allowed(query.scope)
        chosen = select_credentials([c.token for c in self.credentials], allowed)
        identity = self.identity
        # One presentation per credential profile, VC 2.0 ones enveloped: what EDC's verifier reads.
        presentations = issue_presentations(
            identity.signing_key, identity.signing_kid, self.did, grant.verifier, chosen, now, PRESENTATION_LIFETIME
        )
        log.info(
            "presentation given",
            extra={"verifier": grant.verifier, "credentials": len(chosen), "scopes": [str(s) for s in allowed]},
        )
        return web.Response(
            body=PresentationResponseMessage(tuple(presentations)).body(), content_type="application/json"
        )

    def _remember(self, db: Any, facts: IdTokenFacts, now: datetime) -> None:
        from connector.trust.tokens import remember_id_token

        with self.replay.bound(db):
            remember_id_token(self.replay, facts, now, self.leeway)

    async def _record(
        self, request: web.Request, peer: str | None, exc: ConnectorError, now: datetime, rid: str | None
    ) -> None:
        log.warning("presentation query refused", extra={"peer": peer, "code": exc.code, "reason": exc.reason})
        await self.on_outcome(
            VerificationRecord(
                at=format_datetime(now),
                peer=peer,
                outcome="refused",
                code=exc.code,
                reason=exc.reason,
                step="credential_service",
                method=request.method,
                path=request.path,
                request_id=rid,
                detail={"details": dict(exc.problem.details)} if exc.problem.details else {},
            )
        )


def bearer(header: str | None) -> str:
    if not header:
        raise ConnectorError(
            "token.missing", "no Authorization header: a self-issued ID token is required", "Authorization"
        )
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ConnectorError("token.malformed", "the Authorization header is not 'Bearer <token>'", "Authorization")
    return value.strip()


def document_bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
