"""This node as a holder that asks issuers for credentials (DCP credential issuance), and its Storage API.

- `request`: the issuer service's metadata is read (``GET <issuer>/metadata``), then a CredentialRequestMessage
  is sent with a self-issued ID token signed by this node's DID key (its proof of control of the DID) carrying
  a storage grant for that issuer; the request is kept in the store (``credential_requests``) before it is sent,
  so that a delivery that overtakes the answer finds it.
- `refresh`: the request's status, asked of the issuer (``GET <Location>``, a fresh ID token).
- `store` (``POST <credential service>/credentials``, open to any caller; the tokens authenticate): a
  CredentialMessage from the issuer. Its ID token must be signed by a key of that issuer (the key its trust list
  carries when the issuer is on one, else the key its DID document lists), carry this node's storage grant to
  that same issuer, and answer a request of this node still waiting for that issuer. Each credential must be
  about this node, issued by that issuer, of a type asked for and granted, and verify (against the trust lists
  when the node has some: an issuer they do not vouch for is refused). What verifies is stored with the source
  ``issued:<issuer DID>``, replaces an earlier credential of the same issuer and types, survives restarts, and
  is presented from then on.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aiohttp import web

from connector import jsontext
from connector.canonical import sha256_hex
from connector.errors import ConnectorError
from connector.keys import VerifyingKey
from connector.records.trust import ISSUED_SOURCE, CredentialRequest, OwnCredential
from connector.store.interface import Store
from connector.store.sql import trust as repo
from connector.trust.edge.fetching import Fetcher, FetchFailed
from connector.trust.edge.holder import Holder, bearer
from connector.trust.times import format_datetime

if TYPE_CHECKING:
    from connector.trust import issuance
    from connector.trust.edge.trust_lists import TrustListKeeper

log = logging.getLogger("connector.trust")

Clock = Callable[[], datetime]
REQUESTED = "REQUESTED"
MAX_ANSWER = 256 * 1024


def _issuer_base(url: str) -> str:
    base = url.strip().rstrip("/")
    if not base.startswith("https://") or any(c.isspace() for c in base):
        raise ConnectorError("request.invalid", "the issuer is named by its service's https base URL", "issuer")
    return base


class CredentialIssuance:
    def __init__(
        self,
        holder: Holder,
        fetcher: Fetcher,
        store: Store,
        clock: Clock,
        keeper: TrustListKeeper | None = None,
        max_message_bytes: int | None = None,  # None: what DCP issuance allows (issuance.MAX_MESSAGE_BYTES)
    ) -> None:
        self.holder = holder
        self.fetcher = fetcher
        self.store = store
        self.clock = clock
        self.keeper = keeper
        self.max_message_bytes = max_message_bytes
        # Told once credentials are stored (the node's other replicas present them too).
        self.stored: Callable[[], None] = lambda: None

    # --- asking --------------------------------------------------------------------------------------------------

    async def metadata(self, base: str) -> issuance.IssuerMetadata:
        from connector.trust import issuance  # DCP issuance's messages and tokens: with the first request or delivery

        try:
            return issuance.parse_issuer_metadata(await self.fetcher.get(base + issuance.METADATA_PATH, MAX_ANSWER))
        except FetchFailed as exc:
            raise ConnectorError("issuance.unavailable", f"the issuer service cannot be reached: {exc}") from None

    async def request(self, issuer_url: str, types: list[str]) -> CredentialRequest:
        """Ask the issuer at `issuer_url` for credentials of `types`; the request as it stands once acknowledged."""
        from connector.trust import issuance

        base = _issuer_base(issuer_url)
        if not types or len(set(types)) != len(types):
            raise ConnectorError("request.invalid", "name each credential type once", "types")
        metadata = await self.metadata(base)
        ids = [metadata.object_for(t).id for t in types]
        identity, now = self.holder.identity, self.clock()
        grant = issuance.issue_storage_grant(
            identity.signing_key, identity.signing_kid, self.holder.did, metadata.issuer, types, now
        )
        stamp = format_datetime(now)
        record = CredentialRequest(
            f"urn:uuid:{uuid.uuid4()}", metadata.issuer, base, tuple(types), REQUESTED, stamp, stamp
        )
        await self.store.run(repo.save_credential_request, record)
        message = issuance.CredentialRequestMessage(record.holder_pid, tuple(ids))
        status, body, headers = await self._send(
            "POST", base + issuance.CREDENTIALS_PATH, metadata.issuer, grant, json.dumps(message.to_json()).encode()
        )
        if status != 201:
            reason = _reason(body, status)
            await self._settle(record.holder_pid, issuance.REJECTED, reason=reason)
            raise ConnectorError("issuance.refused", f"the issuer refused the request: {reason}")
        location = headers.get("Location") or headers.get("location")
        issuer_pid = None
        try:
            issuer_pid = issuance.parse_credential_status(body).issuer_pid
        except ConnectorError:
            if location:
                issuer_pid = location.rstrip("/").rsplit("/", 1)[-1]
        current = await self.store.read(repo.credential_request, record.holder_pid)
        assert current is not None
        updated = dataclasses.replace(
            current,
            issuer_pid=issuer_pid,
            status_url=location,
            state=current.state if current.state != REQUESTED else issuance.RECEIVED,
            updated_at=format_datetime(self.clock()),
        )
        await self.store.run(repo.save_credential_request, updated)
        log.info(
            "credentials requested",
            extra={"issuer": metadata.issuer, "request": record.holder_pid, "types": types, "state": updated.state},
        )
        return updated

    async def refresh(self, holder_pid: str) -> CredentialRequest:
        """The request, with the issuer's current status when it can be asked (a settled request is as kept)."""
        from connector.trust import issuance

        record = await self.store.read(repo.credential_request, holder_pid)
        if record is None:
            raise ConnectorError("request.not_found", f"no credential request {holder_pid[:100]}", "id")
        if record.state in (issuance.ISSUED, issuance.REJECTED) or not record.status_url:
            return record
        if not record.status_url.startswith(record.issuer_url + "/"):
            return record  # asked only where the issuer service lives
        status, body, _ = await self._send("GET", record.status_url, record.issuer, None, None)
        if status != 200:
            return record
        try:
            seen = issuance.parse_credential_status(body)
        except ConnectorError:
            return record
        if seen.status == issuance.REJECTED:  # its reason comes with the issuer's delivery
            return await self._settle(
                holder_pid, issuance.REJECTED, reason="rejected by the issuer", unless_settled=True
            )
        return record

    async def _send(
        self, method: str, url: str, audience: str, grant: str | None, body: bytes | None
    ) -> tuple[int, bytes, Any]:
        token = self.holder.id_token(audience, grant, self.clock())
        headers = {"Authorization": f"Bearer {token}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        try:
            return await self.fetcher.exchange(method, url, body, headers, MAX_ANSWER)
        except FetchFailed as exc:
            raise ConnectorError("issuance.unavailable", f"the issuer service cannot be reached: {exc}") from None

    async def _settle(
        self,
        holder_pid: str,
        state: str,
        reason: str | None = None,
        credentials: tuple[str, ...] = (),
        unless_settled: bool = False,
    ) -> CredentialRequest:
        from connector.trust import issuance

        def settle(tx: Any) -> CredentialRequest:
            current = repo.credential_request(tx, holder_pid)
            assert current is not None
            if unless_settled and current.state in (issuance.ISSUED, issuance.REJECTED):
                return current  # the issuer's delivery came first and said more
            done = dataclasses.replace(
                current,
                state=state,
                reason=reason,
                credentials=credentials or current.credentials,
                updated_at=format_datetime(self.clock()),
            )
            repo.save_credential_request(tx, done)
            return done

        return await self.store.run(settle)

    # --- the Storage API -------------------------------------------------------------------------------------------

    async def store_credentials(self, request: web.Request) -> web.Response:
        from connector.trust import issuance

        now = self.clock()
        try:
            unverified = issuance.read_delivery_token(
                bearer(request.headers.get("Authorization")),
                self.holder.did,
                now,
                self.holder.leeway,
                self.holder.max_token_lifetime,
            )
            issuer = unverified.issuer
            facts = issuance.check_delivery_token(unverified, await self._issuer_key(issuer, unverified.jwt.kid or ""))
            assert facts.access_token is not None
            granted = issuance.check_storage_grant(
                facts.access_token, self.holder.document(), issuer, now, self.holder.leeway
            )
            await self.store.run(self.holder._remember, facts, now)
        except ConnectorError as exc:
            log.warning("credentials refused at the storage API", extra={"code": exc.code, "reason": exc.reason})
            return _answer(401, exc)
        limit = self.max_message_bytes if self.max_message_bytes is not None else issuance.MAX_MESSAGE_BYTES
        if request.content_length is not None and request.content_length > limit:
            return _answer(413, ConnectorError("request.too_large", "the message is too large"))
        data = await request.content.read(limit + 1)
        try:
            message = issuance.parse_credential_message(data)
            record = await self.store.read(repo.credential_request, message.holder_pid or "")
            if record is None or record.issuer != issuer:
                raise ConnectorError("issuance.unknown_request", "this node asked that issuer for no such credentials")
            if message.status == issuance.REJECTED:
                await self._settle(record.holder_pid, issuance.REJECTED, message.rejection_reason or "rejected")
                log.warning(
                    "credential request rejected by the issuer",
                    extra={"issuer": issuer, "request": record.holder_pid, "reason": message.rejection_reason},
                )
                return web.json_response({"stored": 0})
            credentials = [self._check(c, record, granted, issuer, now) for c in message.credentials]
        except ConnectorError as exc:
            log.warning("credentials refused at the storage API", extra={"code": exc.code, "reason": exc.reason})
            return _answer(404 if exc.code == "issuance.unknown_request" else 400, exc)
        ids = tuple(c.id for c in credentials)

        def keep(tx: Any) -> None:
            repo.store_issued_credentials(tx, credentials)

        await self.store.run(keep)
        await self._settle(record.holder_pid, issuance.ISSUED, credentials=ids)
        await self.holder.reload_stored()
        self.stored()
        log.info(
            "credentials received",
            extra={
                "issuer": issuer,
                "request": record.holder_pid,
                "types": sorted({t for c in credentials for t in c.types}),
            },
        )
        return web.json_response({"stored": len(credentials)})

    def _check(
        self,
        container: issuance.CredentialContainer,
        record: CredentialRequest,
        granted: frozenset[str],
        issuer: str,
        now: datetime,
    ) -> OwnCredential:
        kind = container.credential_type
        if kind not in record.types or kind not in granted:
            raise ConnectorError("issuance.type_not_requested", f"{kind[:100]} was not asked of this issuer")
        token = container.payload
        if self.keeper is None or not self.keeper.states:
            raise ConnectorError(
                "issuance.unverifiable", "this node recognises no trust list to verify issued credentials against"
            )
        from connector.trust.credentials import verify_credential  # with the first credential delivered

        checked = verify_credential(token, self.keeper.trust_store().valid_at(now), self.holder.did, now)
        types, credential_id, until = checked.types, checked.id, checked.valid_until
        if checked.issuer != issuer:
            raise ConnectorError("issuance.issuer_mismatch", "a credential was issued by another issuer")
        if kind not in types:
            raise ConnectorError("issuance.type_mismatch", f"the credential sent as {kind[:100]} is not one")
        return OwnCredential(
            id=credential_id,
            types=types,
            issuer=issuer,
            valid_until=format_datetime(until),
            sha256=sha256_hex(token.encode("ascii")),
            token=token,
            source=ISSUED_SOURCE + issuer,
            loaded_at=format_datetime(now),
        )

    async def _issuer_key(self, issuer: str, kid: str) -> VerifyingKey:
        """The key `kid` of `issuer`: from the trust lists when they name the issuer, else its DID document."""
        if self.keeper is not None:
            trusted = self.keeper.trust_store().valid_at(self.clock())
            if trusted.is_known(issuer):
                try:
                    return trusted.issuer_key(issuer, kid)
                except ConnectorError as exc:
                    raise ConnectorError("token.kid_unknown", exc.reason, "kid") from None
        from connector.trust.did import ASSERTION_METHOD

        document = await self.fetcher.resolve(issuer)
        try:
            return document.usable_key(kid, ASSERTION_METHOD)[1]
        except ConnectorError as exc:
            raise ConnectorError("token.kid_unknown", exc.reason, "kid") from None


def _answer(status: int, exc: ConnectorError) -> web.Response:
    return web.json_response({"code": exc.code, "reason": exc.reason}, status=status)


def _reason(body: bytes, status: int) -> str:
    try:
        answer = jsontext.loads(body)
    except ValueError:
        return f"HTTP {status}"
    if isinstance(answer, dict) and isinstance(answer.get("reason"), str):
        return f"{answer.get('code', status)}: {answer['reason'][:300]}"
    return f"HTTP {status}"
