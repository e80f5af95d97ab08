"""The provider's side of the data plane: serving pulls, issuing fresh tokens and seals, pushing.

Pull: ``GET /data/{transfer}`` on the data listener (mutual TLS, the client certificate must be the transfer's
consumer, the bearer token must be the transfer's current one; with ``data.client_certificate = "optional"`` a pull
without a certificate is authenticated by its token alone, unless the token is bound to one), streamed in 256 KiB
writes. Every pull that starts, and every fresh token, is admitted again on the consumer's standing now
(`ports.PeerStanding`: its certificate and the credentials verified when the transfer was requested, re-checked)
and, for a pull, by the agreement's policy; a consumer no longer in standing ends the transfer (TERMINATED, with the
reason). A repeatable source (seekable, with an ETag) honours ``Range``/``If-Range``; any other is served whole.

One use: a transfer delivers its data once. A new pull of a transfer stops the one still streaming; the data
counts as delivered when a stream sent its last byte, when its seal was served, or when the bytes sent under the
transfer reach `DELIVERY_ALLOWANCE` times its size (where a stream is cut: an interrupted pull resumes from where
it broke, it does not fetch the data again); from then on the transfer serves no pull and no fresh token
(``dataplane.delivered``), only its seal, with the token it holds even once that has expired. Resumes are still
served after the last byte left, until the seal was served and within the allowance (``Range: bytes=N-`` past
byte 0 with ``If-Range`` naming the version sent), with that token too. A last byte handed to the network is not
a last byte held: a consumer stopped with the tail still in a socket or in a buffer it was filling gets the
rest, instead of a part it can never complete (and a seal it must refuse).

The seal: ``GET /data/{transfer}/seal`` (same authentication) answers the provider's seal of the whole
representation. For a repeatable source it is computed by a separate read of the version that was served (the
digest is kept per source version, so an unchanged file is hashed once whatever the number of transfers), which
keeps hashing off the hot path and lets a resumed pull be sealed whole; ``If-Match`` with the ETag received makes
sure the seal is for the bytes the consumer holds. Any other source is hashed while it streams and sealed when a
stream reaches its last byte; a seal request during that stream waits for it.

Push: once a push transfer is STARTED, the representation is sent to the consumer's destination with a
connection that must present the consumer's certificate, then its seal; when the consumer accepts the seal the
transfer is completed, otherwise it is terminated with the reason.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from cryptography import x509

from connector.canonical import json_sha256
from connector.dataplane.address import AddressError, EndpointAccess, bearer_token
from connector.dataplane.endpoint_access import (
    PUSH,
    AccessRefusal,
    Refused,
    check_pull,
    check_refresh,
    delivered_refusal,
    kind_of,
    token_refusal,
)
from connector.dataplane.pull_tokens import TokenClaims, TokenError, cert_thumbprint, verify_token
from connector.dataplane.serving import is_repeatable, requested_range, shape, validator_matches
from connector.dataplane.standing import out_of_standing, transient
from connector.dataplane.streams import NEWER_PULL
from connector.dsp.vocabulary import Role, TransferState
from connector.errors import ConnectorError, Problem
from connector.evidence.digest import Digest, RunningDigest
from connector.evidence.seal import Seal, make_seal
from connector.records.flows import Flow, KnownDigest
from connector.records.processes import Transfer
from connector.sources import DataStream, Source, SourceError, StreamInfo, build_source
from connector.store.coordination import work_name
from connector.store.interface import Tx
from connector.store.sql import definitions as definitions_sql
from connector.store.sql import processes as repo
from connector.store.sql.flows import add_bytes_sent, get_digest, get_flow, put_digest, save_flow
from connector.telemetry import SENT
from connector.trust.times import to_numeric_date
from connector.web.middleware import PEER, peer_of
from connector.web.peers import peer_session
from connector.web.ranges import RangeNotSatisfiable

if TYPE_CHECKING:
    from connector.dataplane.data_plane import DataPlane


log = logging.getLogger("connector.dataplane")

SEAL_WAIT = 120.0  # how long a seal request waits for a stream still being sent
PUSH_READ_TIMEOUT = 120.0
SOURCE_UNREADABLE = "pull refused: the data source cannot be read"
DELIVERY_ALLOWANCE = 2  # bytes sent under one transfer, in sizes of its data, before it counts as delivered


@dataclass(frozen=True)
class Grant:
    """What an admitted request may read."""

    transfer: Transfer
    dataset_id: str
    source: Mapping[str, Any]
    sent_before: int = 0  # bytes already sent under the transfer (the pulls before this one)
    tail_only: bool = False  # admitted only to resume: the last byte was sent, but no seal was asked for yet

    def budget(self, total: int | None) -> int | None:
        """How many bytes this pull may still send: a transfer never sends more than DELIVERY_ALLOWANCE times its
        data (None when the size is unknown)."""
        return None if total is None else max(0, DELIVERY_ALLOWANCE * max(total, 1) - self.sent_before)

    @property
    def source_key(self) -> str:
        return json_sha256(dict(self.source))


def _peer(request: web.Request) -> tuple[str | None, str | None]:
    """(participant, certificate thumbprint) of the TLS peer; (None, None) for a request without a certificate,
    which reaches a handler only when the data listener lets certificates be optional."""
    if request.get(PEER) is None:
        return None, None
    peer = peer_of(request)
    if peer.certificate is None:
        raise Refused(AccessRefusal(401, Problem("auth.no_client_certificate", "a client certificate is required")))
    return peer.participant_id, cert_thumbprint(peer.certificate)


def _certificate(request: web.Request) -> x509.Certificate | None:
    """The client certificate of the connection, if it presented one."""
    peer = request.get(PEER)
    return None if peer is None else peer.certificate


def _resumes(request: web.Request) -> bool:
    """Whether a pull continues one that broke off: ``Range: bytes=N-`` past byte 0, for the version it began
    with (``If-Range``)."""
    wanted = requested_range(request.headers.get("Range"))
    return wanted is not None and wanted.start > 0 and wanted.stop is None and bool(request.headers.get("If-Range"))


def _reaches_end(info: StreamInfo) -> bool:
    """Whether a stream, sent to its last chunk, carried the last byte of the representation."""
    served = info.range
    if served is None or served.stop is None:
        return True
    return info.total_size is not None and served.stop >= info.total_size


class ProviderSide:
    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane
        self._sealing: dict[str, asyncio.Future[Seal | None]] = {}  # non-repeatable streams being sent
        self._digests: dict[tuple[str, str], asyncio.Future[KnownDigest]] = {}  # digest passes in progress
        self._pushes: dict[str, asyncio.Task[None]] = {}
        # Transfers whose last byte is leaving or has left, marked before it leaves: a pull sent the moment the
        # consumer has it is refused even while the store is still recording the delivery.
        self._last_byte_out: set[str] = set()

    @property
    def store(self) -> Any:
        return self.plane.store

    async def stop(self) -> None:
        tasks = list(self._pushes.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for future in list(self._digests.values()) + list(self._sealing.values()):
            if not future.done():
                future.cancel()

    def forget(self, transfer_id: str) -> None:
        """The transfer ended: nothing of it is waited for any more."""
        sealing = self._sealing.pop(transfer_id, None)
        if sealing is not None and not sealing.done():
            sealing.set_result(None)
        self._last_byte_out.discard(transfer_id)

    # --- admission ------------------------------------------------------------------------------------------------

    def _claims(self, request: web.Request, expired_ok: bool = False) -> TokenClaims:
        identity = self.plane.identity
        token = bearer_token(request.headers.get("Authorization"))
        if token is None:
            raise Refused(AccessRefusal(401, Problem("token.missing", "a bearer token is required")))
        for key in (identity.signing_key.public_key(), *self.plane.earlier_token_keys):
            try:
                return verify_token(
                    key, token, issuer=identity.participant_id, now=self.plane.now(), expired_ok=expired_ok
                )
            except TokenError as exc:
                refusal = exc
                if exc.code != "token.signature":
                    break
        raise Refused(token_refusal(refusal)) from None

    async def _standing(self, request: web.Request, transfer_id: str, participant_id: str) -> Problem | None:
        """The consumer's standing now, asked only for its own STARTED transfer (for anything else the endpoint
        refuses on its own checks, and nothing is worth fetching)."""
        tp = await self.store.read(repo.get_transfer, transfer_id)
        if (
            tp is None
            or tp.role != Role.PROVIDER
            or tp.peer_id != participant_id
            or tp.state != TransferState.STARTED
            or kind_of(tp.format) == PUSH
        ):
            return None
        return await self.plane.standing.standing(
            tp.peer_id, tp.claims, _certificate(request), method=request.method, path=request.path
        )

    async def _after_refusal(self, transfer_id: str, standing: Problem | None, refusal: AccessRefusal) -> None:
        """A consumer refused for its standing (not for a passing failure to establish it): its transfer ends."""
        if standing is not None and not transient(standing) and refusal.problem.code == standing.code:
            await self._end(transfer_id, "terminate", out_of_standing(standing))

    def _admit(
        self,
        db: Tx,
        transfer_id: str,
        claims: TokenClaims,
        participant_id: str,
        cert_sha256: str | None,
        pulling: bool,
        standing: Problem | None = None,
        resuming: bool = False,
    ) -> Grant | AccessRefusal:
        """`resuming`: a pull that continues one that broke off (see `_resumes`)."""
        tp = repo.get_transfer(db, transfer_id)
        flow = get_flow(db, transfer_id)
        refusal = check_pull(transfer_id, tp, flow, claims, participant_id, cert_sha256)
        if refusal is not None:
            return refusal
        assert tp is not None and flow is not None
        expired = to_numeric_date(self.plane.now()) >= claims.expires_at
        if (not pulling or resuming) and flow.delivered_at is None and expired:
            # Before the data is delivered a seal is fetched with a valid token; after, the one held will do.
            return token_refusal(TokenError("token.expired", "the bearer token has expired; ask for a fresh one"))
        tail_only = False
        if pulling:
            # The last byte having left is no proof that the consumer holds it (it may have been in a socket or a
            # buffer when the consumer stopped): until the consumer asks for the seal, a resume may still fetch
            # what it lacks, within the allowance, with the token it holds.
            tail_only = flow.delivered_at is not None and resuming and flow.seal is None
            refusal = None if tail_only else delivered_refusal(flow.delivered_at)
            if refusal is not None:
                return refusal
            if standing is not None:
                return self.plane.refuse_standing(db, tp, standing, "pull")
            verdict = self.plane.control.admission(db, tp)
            if not verdict.permitted:
                self.plane.control.note(
                    db,
                    tp,
                    "pull refused by the agreement's policy",
                    verdict.reason,
                    {"trace": verdict.trace},
                )
                return AccessRefusal(
                    403, Problem("policy.refused", f"the agreement no longer permits this transfer: {verdict.reason}")
                )
            if flow.token_cert is None and cert_sha256 is not None:  # bind the token to its first certificate
                save_flow(db, dataclasses.replace(flow, token_cert=cert_sha256, updated_at=self.plane.now()))
            grant = self._grant(db, tp)
            if isinstance(grant, AccessRefusal):
                return grant
            return dataclasses.replace(grant, sent_before=flow.bytes_sent, tail_only=tail_only)
        return self._grant(db, tp)

    @staticmethod
    def _grant(db: Tx, tp: Transfer) -> Grant | AccessRefusal:
        agreement = repo.get_agreement(db, tp.agreement_id)
        asset = definitions_sql.get_asset(db, agreement.dataset_id) if agreement is not None else None
        if agreement is None or asset is None:
            return AccessRefusal(
                410, Problem("dataplane.asset_gone", "the dataset of this transfer is no longer offered")
            )
        return Grant(tp, agreement.dataset_id, dict(asset.source))

    async def _admitted(self, request: web.Request, *, pulling: bool, resuming: bool = False) -> Grant:
        """`resuming`: a pull that continues one that broke off (see `_resumes`)."""
        participant_id, cert_sha256 = _peer(request)
        # An expired token is judged with the transfer at hand: the one held still serves a seal, or the last
        # bytes of data whose last byte left, once no fresh token is given.
        claims = self._claims(request, expired_ok=not pulling or resuming)
        transfer_id = request.match_info["transfer"]
        # Without a certificate the token names its holder (it is a bearer token, as EDC's data plane has them).
        holder = participant_id if participant_id is not None else claims.subject
        standing = await self._standing(request, transfer_id, holder) if pulling else None
        run = self.store.run if pulling else self.store.read
        outcome = await run(self._admit, transfer_id, claims, holder, cert_sha256, pulling, standing, resuming)
        if isinstance(outcome, AccessRefusal):
            await self._after_refusal(transfer_id, standing, outcome)
            raise Refused(outcome)
        return outcome

    def _source(self, grant: Grant) -> Source:
        return build_source(grant.source, self.plane.context)

    async def _onward(self, grant: Grant) -> None:
        """Refuse to serve data this node received under an agreement that prohibits distributing it."""
        duties = self.plane.duties
        reason = await duties.withheld_source(grant.source) if duties is not None else None
        if reason is not None:
            raise Refused(AccessRefusal(403, Problem("duty.no_onward_transfer", reason)))

    # --- GET /data/{transfer} -----------------------------------------------------------------------------------

    async def pull(self, request: web.Request) -> web.StreamResponse:
        resuming = _resumes(request)
        grant = await self._admitted(request, pulling=True, resuming=resuming)
        await self._onward(grant)
        tid = grant.transfer.id
        refused = delivered_refusal(self.plane.now()) if tid in self._last_byte_out and not resuming else None
        if refused is not None:
            raise Refused(refused)
        self.plane.streams.halt(tid, NEWER_PULL, what="pull")
        self.plane.coordination.signal("halt", tid)  # and wherever another replica serves it
        try:
            source = self._source(grant)
            stream = await self._open(
                source, requested_range(request.headers.get("Range")), request.headers.get("If-Range")
            )
        except SourceError as exc:
            await self.store.run(self._unreadable, tid, exc)
            raise
        repeatable = is_repeatable(source.seekable, stream.info)
        if grant.tail_only and (stream.info.range is None or grant.budget(stream.info.total_size) == 0):
            # Only the rest of the version already sent may follow its last byte, and only within the allowance.
            await stream.aclose()
            spent = delivered_refusal(self.plane.now())
            assert spent is not None
            raise Refused(spent)
        look = shape(stream.info, repeatable=repeatable, seal_url=self.plane.pull_endpoint(tid) + "/seal")
        response = web.StreamResponse(status=look.status, headers=look.headers)
        hasher = None
        sealing: asyncio.Future[Seal | None] | None = None
        if not repeatable:
            hasher = RunningDigest()
            sealing = asyncio.get_running_loop().create_future()
            previous = self._sealing.get(tid)
            if previous is not None and not previous.done():
                previous.set_result(None)
            self._sealing[tid] = sealing
        handle = self.plane.streams.open(tid, "pull", transport=request.transport, certificate=_certificate(request))
        sent = 0
        complete = False
        budget = grant.budget(stream.info.total_size)
        to_end = _reaches_end(stream.info)
        size = stream.info.size
        marked = False
        try:
            await response.prepare(request)
            async for chunk in stream:
                if handle.stopped is not None:
                    break
                if budget is not None and sent + len(chunk) > budget:  # the transfer's one use is spent
                    await response.write(chunk[: budget - sent])
                    sent = budget
                    break
                if hasher is not None:
                    hasher.update(chunk)
                if to_end and size is not None and sent + len(chunk) >= size:
                    self._last_byte_out.add(tid)
                    marked = True
                await response.write(chunk)
                sent += len(chunk)
            else:
                complete = True
                if to_end:
                    self._last_byte_out.add(tid)  # (before the end of a stream of unknown size is written)
                    marked = True
        except (ConnectionError, SourceError) as exc:
            why = handle.stopped or (exc.reason if isinstance(exc, ConnectorError) else "the consumer left")
            log.info("pull stream ended early", extra={"transfer": tid, "sent": sent, "why": why})
        finally:
            self.plane.streams.close(handle)
            await stream.aclose()
            whole = complete and to_end
            if marked and not whole:  # the last bytes did not leave after all: the pull may resume
                self._last_byte_out.discard(tid)
            await self.store.run(self._streamed, tid, sent, whole, stream.info.total_size)
            self.plane.meter.moved(SENT, grant.transfer.peer_id, sent)
        if not complete and request.transport is not None:
            # Dropped, not ended: the consumer must see a broken stream, never a short complete one.
            request.transport.abort()
        seal = None
        if complete and hasher is not None:
            seal = await self._issue_seal(grant, hasher.digest(), stream.info.media_type)
        if sealing is not None and not sealing.done():
            sealing.set_result(seal)
        if complete:
            await response.write_eof()
        return response

    def _unreadable(self, db: Tx, transfer_id: str, exc: SourceError) -> None:
        """Say in the transfer's history why its data cannot be served (the consumer is told as much), once for each
        reason in a row: the provider's operator sees what to put right, and the transfer stays as it is."""
        tp = repo.get_transfer(db, transfer_id)
        if tp is None:
            return
        last = repo.history(db, transfer_id)[-1:]
        if last and last[0].cause == SOURCE_UNREADABLE and last[0].reason == exc.reason:
            return
        self.plane.control.note(db, tp, SOURCE_UNREADABLE, exc.reason, {"code": exc.code})

    def _streamed(self, db: Tx, transfer_id: str, sent: int, whole: bool, total: int | None) -> None:
        """Count what a stream sent; the transfer's data is delivered once a stream carried its last byte, or once
        the bytes sent under it add up to DELIVERY_ALLOWANCE times its size."""
        add_bytes_sent(db, transfer_id, sent)
        flow = get_flow(db, transfer_id)
        if flow is None or flow.delivered_at is not None:
            return
        if whole or (total is not None and flow.bytes_sent >= DELIVERY_ALLOWANCE * max(total, 1)):
            why = "a stream sent its last byte" if whole else f"{flow.bytes_sent} bytes sent of data of {total}"
            self._delivered(db, flow, why)

    def _delivered(self, db: Tx, flow: Flow, why: str) -> None:
        now = self.plane.now()
        save_flow(db, dataclasses.replace(flow, delivered_at=now, updated_at=now))
        tp = repo.get_transfer(db, flow.transfer_id)
        if tp is not None:
            self.plane.control.note(
                db, tp, "data delivered in full", why, {"bytesSent": flow.bytes_sent, "oneUse": True}
            )

    def _seal_served(self, db: Tx, transfer_id: str) -> None:
        flow = get_flow(db, transfer_id)
        if flow is not None and flow.delivered_at is None:
            self._delivered(db, flow, "its seal was served")

    async def _open(self, source: Source, wanted: Any, if_range: str | None) -> DataStream:
        """Open the source for the range asked for, or whole when it cannot serve it or the version changed."""
        if wanted is not None and source.seekable:
            try:
                stream = await source.open(wanted)
            except RangeNotSatisfiable:
                if if_range is None:
                    raise
                whole = await source.open(None)  # a changed version is served whole, whatever its size
                if validator_matches(if_range, whole.info.etag):
                    await whole.aclose()
                    raise
                return whole
            except SourceError as exc:
                if exc.code != "source.range.unsupported":
                    raise
            else:
                info = stream.info
                if is_repeatable(True, info) and validator_matches(if_range, info.etag):
                    return stream
                await stream.aclose()
        return await source.open(None)

    # --- GET /data/{transfer}/seal -------------------------------------------------------------------------------

    async def seal(self, request: web.Request) -> web.Response:
        grant = await self._admitted(request, pulling=False)
        tid = grant.transfer.id
        sealing = self._sealing.get(tid)
        if sealing is not None:
            try:
                seal = await asyncio.wait_for(asyncio.shield(sealing), SEAL_WAIT)
            except TimeoutError:
                seal = None
            if seal is not None:
                await self.store.run(self._seal_served, tid)
                return web.json_response(seal.to_json(), headers={"Cache-Control": "no-store"})
        source = self._source(grant)
        if source.seekable:
            stream = await source.open(None)
            if is_repeatable(True, stream.info):
                etag = stream.info.etag
                if not validator_matches(request.headers.get("If-Match"), etag):
                    await stream.aclose()
                    raise Refused(
                        AccessRefusal(
                            412, Problem("dataplane.changed", "the data changed since it was sent; pull it again")
                        )
                    )
                known = await self._digest(grant.source_key, stream)
                flow = await self.store.read(get_flow, tid)
                if (
                    flow is not None
                    and flow.seal is not None
                    and (flow.sha256, flow.size) == (known.sha256, known.size)
                ):
                    sealed = dict(flow.seal)  # this version was sealed for this transfer already
                else:
                    sealed = (
                        await self._issue_seal(grant, Digest(known.sha256, known.size), known.media_type)
                    ).to_json()
                await self.store.run(self._seal_served, tid)
                return web.json_response(sealed, headers={"Cache-Control": "no-store", "ETag": etag or ""})
            await stream.aclose()
        flow = await self.store.read(get_flow, tid)
        if flow is not None and flow.seal is not None:
            await self.store.run(self._seal_served, tid)
            return web.json_response(dict(flow.seal), headers={"Cache-Control": "no-store"})
        raise Refused(
            AccessRefusal(
                404,
                Problem(
                    "seal.not_ready",
                    "no stream of this transfer has reached its end yet; the seal follows the first complete stream",
                ),
            )
        )

    async def _digest(self, source_key: str, stream: DataStream) -> KnownDigest:
        """The digest of the version `stream` opened (closing it), from the store or by reading it once."""
        etag = stream.info.etag or ""
        key = (source_key, etag)
        try:
            known = await self.store.read(get_digest, source_key, etag)
        except BaseException:
            await stream.aclose()
            raise
        running = self._digests.get(key)
        if known is not None or running is not None:
            await stream.aclose()
            return known if known is not None else await asyncio.shield(running)  # type: ignore[arg-type]
        running = asyncio.ensure_future(self._compute_digest(source_key, stream))
        self._digests[key] = running
        running.add_done_callback(lambda _: self._digests.pop(key, None))
        return await asyncio.shield(running)

    async def _compute_digest(self, source_key: str, stream: DataStream) -> KnownDigest:
        loop = asyncio.get_running_loop()
        running = RunningDigest()
        async with stream:
            async for chunk in stream:
                # Off the event loop: hashlib releases the GIL, so pulls keep flowing meanwhile.
                await loop.run_in_executor(self.plane.pool, running.update, chunk)
        digest = running.digest()
        known = KnownDigest(digest.sha256, digest.size, stream.info.media_type)
        await self.store.run(put_digest, source_key, stream.info.etag or "", known, self.plane.now())
        return known

    async def _issue_seal(self, grant: Grant, digest: Digest, media_type: str) -> Seal:
        identity = self.plane.identity
        tp = grant.transfer
        seal = make_seal(
            digest=digest,
            media_type=media_type,
            dataset_id=grant.dataset_id,
            agreement_id=tp.agreement_id,
            provider_pid=tp.provider_pid or tp.id,
            consumer_pid=tp.consumer_pid or "",
            issuer=self.plane.identity.participant_id,
            issued_at=self.plane.now(),
            signing_key=identity.signing_key,
            signing_cert=identity.signing_cert,
            ca_certs=[identity.ca_cert],
            kid=identity.signing_kid,
        )
        await self.store.run(self._keep_seal, tp.id, seal)
        return seal

    def _keep_seal(self, db: Tx, transfer_id: str, seal: Seal) -> None:
        flow = get_flow(db, transfer_id)
        tp = repo.get_transfer(db, transfer_id)
        if flow is None or tp is None:
            return
        claims = seal.claims
        save_flow(
            db,
            dataclasses.replace(
                flow, seal=seal.to_json(), sha256=claims.sha256, size=claims.size, updated_at=self.plane.now()
            ),
        )
        self.plane.evidence(
            db,
            "seal.sent",
            process_id=transfer_id,
            peer=tp.peer_id,
            subject=seal.to_json(),
            data={"sha256": claims.sha256, "size": claims.size},
        )

    # --- POST /data/{transfer}/token -------------------------------------------------------------------------------

    async def refresh(self, request: web.Request) -> web.Response:
        participant_id, cert_sha256 = _peer(request)
        if participant_id is None:
            problem = Problem("auth.no_client_certificate", "a fresh token is only issued over mutual TLS")
            raise Refused(AccessRefusal(401, problem))
        transfer_id = request.match_info["transfer"]
        standing = await self._standing(request, transfer_id, participant_id)
        delivering = self.plane.now() if transfer_id in self._last_byte_out else None
        outcome = await self.store.run(self._refresh, transfer_id, participant_id, cert_sha256, standing, delivering)
        if isinstance(outcome, AccessRefusal):
            await self._after_refusal(transfer_id, standing, outcome)
            raise Refused(outcome)
        return web.json_response(outcome, headers={"Cache-Control": "no-store"})

    def _refresh(
        self,
        db: Tx,
        transfer_id: str,
        participant_id: str,
        cert_sha256: str,
        standing: Problem | None = None,
        delivering: datetime | None = None,
    ) -> dict[str, Any] | AccessRefusal:
        """`delivering`: the last byte of its data is leaving right now (not recorded yet)."""
        tp = repo.get_transfer(db, transfer_id)
        refusal = check_refresh(transfer_id, tp, participant_id, get_flow(db, transfer_id))
        refusal = refusal or delivered_refusal(delivering)
        if refusal is not None:
            return refusal
        assert tp is not None
        if standing is not None:
            return self.plane.refuse_standing(db, tp, standing, "token")
        return self.plane.new_pull_address(db, tp, cert_sha256, restarted=False)

    # --- push -----------------------------------------------------------------------------------------------------

    def resume_pushes(self, transfer_ids: list[str]) -> None:
        """After a restart: push again what was STARTED and never completed (`DataPlane.resume_pushes` finds it)."""
        for transfer_id in transfer_ids:
            self.start_push(transfer_id)

    def take_push(self, transfer_id: str) -> None:
        """The push became this replica's to send (its sender died): send it, unless it is being sent here."""
        running = self._pushes.get(transfer_id)
        if running is None or running.done():
            self.start_push(transfer_id)

    def start_push(self, transfer_id: str) -> None:
        running = self._pushes.get(transfer_id)
        if running is not None and not running.done():
            running.cancel()  # a resume: the previous attempt is void
        task = self.plane.tasks.spawn(self._push(transfer_id), f"push:{transfer_id}")
        self._pushes[transfer_id] = task
        task.add_done_callback(
            lambda t: self._pushes.pop(transfer_id, None) if self._pushes.get(transfer_id) is t else None
        )

    def _admit_push(self, db: Tx, transfer_id: str) -> tuple[Grant, EndpointAccess] | AccessRefusal | None:
        tp = repo.get_transfer(db, transfer_id)
        if tp is None or tp.state != TransferState.STARTED:
            return None
        verdict = self.plane.control.admission(db, tp)
        if not verdict.permitted:
            return AccessRefusal(
                403, Problem("policy.refused", f"the agreement no longer permits this transfer: {verdict.reason}")
            )
        try:
            destination = EndpointAccess.from_address(tp.data_address)
        except AddressError as exc:
            return AccessRefusal(400, Problem(exc.code, f"the push destination is unusable: {exc.reason}", exc.where))
        grant = self._grant(db, tp)
        return grant if isinstance(grant, AccessRefusal) else (grant, destination)

    async def _push(self, transfer_id: str) -> None:
        async with self.plane.coordination.hold(work_name("push", transfer_id), announce=False) as held:
            if held:  # (else another replica sends it)
                await self._claimed_push(transfer_id)

    async def _claimed_push(self, transfer_id: str) -> None:
        try:
            await self._push_standing(transfer_id)
            outcome = await self.store.run(self._admit_push, transfer_id)
            if outcome is None:
                return
            if isinstance(outcome, AccessRefusal):
                raise Refused(outcome)
            grant, destination = outcome
            await self._onward(grant)
            await self._send(grant, destination)
        except asyncio.CancelledError:
            log.info("push stopped", extra={"transfer": transfer_id})
            raise
        except (TimeoutError, ConnectorError, aiohttp.ClientError, OSError) as exc:
            reason = exc.reason if isinstance(exc, ConnectorError) else (str(exc) or type(exc).__name__)
            log.warning("push failed", extra={"transfer": transfer_id, "reason": reason})
            await self._end(transfer_id, "terminate", f"the push of the data failed: {reason}")
            return
        await self._end(transfer_id, "complete", None)

    async def _push_standing(self, transfer_id: str) -> None:
        """Raises Refused when the consumer of a push about to start is no longer in standing."""
        tp = await self.store.read(repo.get_transfer, transfer_id)
        if tp is None or tp.state != TransferState.STARTED:
            return
        path = self.plane.push_endpoint(transfer_id)
        standing = await self.plane.standing.standing(tp.peer_id, tp.claims, None, method="POST", path=path)
        if standing is not None:
            raise Refused(await self.store.run(self._refuse_push, transfer_id, standing))

    def _refuse_push(self, db: Tx, transfer_id: str, standing: Problem) -> AccessRefusal:
        tp = repo.get_transfer(db, transfer_id)
        assert tp is not None
        return self.plane.refuse_standing(db, tp, standing, "push")

    async def _end(self, transfer_id: str, action: str, reason: str | None) -> None:
        try:
            await self.plane.control.transfer_command(transfer_id, action, reason)
        except ConnectorError as exc:  # already ended meanwhile (the consumer terminated, say)
            log.info(
                "push outcome not applied", extra={"transfer": transfer_id, "action": action, "reason": exc.reason}
            )

    async def _send(self, grant: Grant, destination: EndpointAccess) -> None:
        tp = grant.transfer
        ssl_context = self.plane.tls.client_context()
        stream = await self._source(grant).open(None)
        hasher = RunningDigest()
        task = asyncio.current_task()
        handle = self.plane.streams.open(tp.id, "push-out", task=task)
        headers = {"Authorization": destination.authorization_header(), "Content-Type": stream.info.media_type}
        if stream.info.size is not None:
            headers["Content-Length"] = str(stream.info.size)

        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=PUSH_READ_TIMEOUT)
        session = peer_session(tp.peer_id, ssl_context, timeout=timeout)

        async def body() -> AsyncIterator[bytes]:
            # The body is asked for once the connection stands: its certificate is the consumer's (checked).
            handle.certificate = getattr(session.connector, "peer_certificate", None)
            async for chunk in stream:
                hasher.update(chunk)
                yield chunk

        try:
            async with session:
                async with session.post(destination.endpoint, data=body(), headers=headers) as resp:
                    await _expect_ok(resp, "the consumer refused the pushed data")
                await self.store.run(add_bytes_sent, tp.id, hasher.size)
                self.plane.meter.moved(SENT, tp.peer_id, hasher.size)
                seal = await self._issue_seal(grant, hasher.digest(), stream.info.media_type)
                async with session.post(
                    destination.endpoint + "/seal",
                    json=seal.to_json(),
                    headers={"Authorization": destination.authorization_header()},
                ) as resp:
                    await _expect_ok(resp, "the consumer refused the seal")
        finally:
            self.plane.streams.close(handle)
            await stream.aclose()


async def _expect_ok(resp: aiohttp.ClientResponse, what: str) -> None:
    if resp.status == 200:
        await resp.read()
        return
    try:
        body = await resp.json(content_type=None)
    except ValueError:
        body = None
    said = body.get("reason") if isinstance(body, dict) else None
    code = body.get("code") if isinstance(body, dict) else None
    raise ConnectorError(code or f"dataplane.http_{resp.status}", f"{what} ({resp.status}: {said or resp.reason})")
