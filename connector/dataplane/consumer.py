"""The consumer's side of the data plane in the node: fresh pull tokens, seals verified and kept, pushes received.

Pulling itself is done by whoever holds the node's TLS identity (the ``connector transfer`` command); the node
gives it a current token (asking the provider for a fresh one over mutual TLS), and judges the seal: a seal that
verifies against the federations' roots and matches the bytes is kept with the transfer as evidence; one that
does not terminates the transfer with the reason. A provider whose data address offers no seal (EDC's data plane
never seals) does not fail the transfer: the digest of what was received is kept, recorded as unsealed, unless
``[evidence] require_seals``. Pushed data arrives at ``POST /push/{transfer}`` with the token
this node put in its request, is written atomically into the inbox, and is published under its final name only
when the provider's seal (``POST /push/{transfer}/seal``) verifies.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from cryptography import x509

from connector.dataplane.address import AddressError, EndpointAccess, bearer_token
from connector.dataplane.endpoint_access import PULL, AccessRefusal, Refused, check_push_receipt, kind_of
from connector.dsp.vocabulary import Role, TransferState
from connector.errors import ConnectorError, Problem
from connector.evidence.digest import Digest
from connector.evidence.seal import SealError, SealExpectation, SealFacts, verify_seal
from connector.keys import cert_pem
from connector.pull.atomic_file import AtomicDownload, DownloadError
from connector.pull.receiving import receive_into
from connector.records.columns import iso
from connector.records.flows import Flow
from connector.records.processes import Agreement, Transfer
from connector.store.errors import StoreError
from connector.store.interface import Tx
from connector.store.sql import processes as repo
from connector.store.sql.flows import get_flow, save_flow
from connector.telemetry import RECEIVED
from connector.web.bodies import CLOSING, read_json, stalling
from connector.web.middleware import peer_of

if TYPE_CHECKING:
    from connector.dataplane.data_plane import DataPlane

log = logging.getLogger("connector.dataplane")

# The inbox's file system refused the data (a full disk, a quota, a failing device): this node's trouble, not the
# pusher's mistake.
UNWRITABLE = frozenset({"download.no_space", "download.io"})


def _unwritable(transfer_id: str, exc: DownloadError) -> Refused:
    """A push this node cannot write: the operator is told what and where, the pusher that the receiving side
    cannot take the data now (503; the transfer ends, and a new one can be requested once there is room)."""
    log.error("pushed data cannot be written", extra={"transfer": transfer_id, "reason": exc.reason, "file": exc.where})
    problem = Problem(
        "dataplane.unwritable", "the receiving node cannot write the pushed data now: its storage is full or failing"
    )
    return Refused(AccessRefusal(503, problem))


PROVIDER_PID_WAIT = 10.0
DELIVERED = "transfer.delivered"  # the provider delivered the data in full: the transfer's one use is spent
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass
class Receipt:
    """Pushed data held in its part file until the provider's seal for it arrives."""

    download: AtomicDownload
    digest: Digest


def _safe_name(transfer_id: str) -> str:
    tail = transfer_id.rsplit(":", 1)[-1]
    return re.sub(r"[^A-Za-z0-9._-]", "_", tail)[:120] or "transfer"


class ConsumerSide:
    def __init__(self, plane: DataPlane) -> None:
        self.plane = plane
        self._receipts: dict[str, Receipt] = {}

    @property
    def store(self) -> Any:
        return self.plane.store

    async def stop(self) -> None:
        for transfer_id in list(self._receipts):
            self.forget(transfer_id, discard=False)

    def forget(self, transfer_id: str, *, discard: bool) -> None:
        """Drop a receipt waiting for its seal (kept as a part file, or discarded when the transfer ended)."""
        receipt = self._receipts.pop(transfer_id, None)
        if receipt is not None:
            done = receipt.download.discard() if discard else receipt.download.pause()
            self.plane.tasks.spawn(done, f"forget-receipt:{transfer_id}")

    # --- loading and checking ---------------------------------------------------------------------------------------

    def _load(self, db: Tx, transfer_id: str) -> tuple[Transfer, Agreement | None, Flow | None]:
        tp = repo.get_transfer(db, transfer_id)
        if tp is None or tp.role != Role.CONSUMER:
            raise ConnectorError("transfer.not_found", f"no transfer '{transfer_id}' in which this node consumes")
        return tp, repo.get_agreement(db, tp.agreement_id), get_flow(db, transfer_id)

    def trust_anchors(self) -> list[x509.Certificate]:
        return list(self.plane.tls.cas)

    def _revoked(self, cert: x509.Certificate) -> Problem | None:
        if self.plane.tls.is_revoked(cert):
            return Problem("seal.revoked", "the provider's signing certificate has been revoked")
        return None

    # --- pull: a current token ----------------------------------------------------------------------------------

    async def fresh_access(self, transfer_id: str) -> dict[str, Any]:
        """Everything a puller needs: the endpoint, a current token, what the seal must state, the anchors."""
        tp, agreement, flow = await self.store.read(self._load, transfer_id)
        if kind_of(tp.format) != PULL:
            raise ConnectorError("transfer.invalid_state", "this transfer is pushed to this node, not pulled")
        if tp.state != TransferState.STARTED:
            raise ConnectorError(
                "transfer.invalid_state",
                f"the transfer is {tp.state}, not STARTED" + (f": {tp.reason}" if tp.reason else ""),
                None,
                state=str(tp.state),
            )
        address = (flow.address if flow is not None and flow.address else None) or tp.data_address
        try:
            access = EndpointAccess.from_address(address)
        except AddressError as exc:
            raise ConnectorError(
                "transfer.no_address", f"the provider's data address is unusable: {exc.reason}", exc.where
            ) from None
        received_at = self.plane.now()
        delivered = False
        if access.refresh_endpoint is not None:
            try:
                address = await self._refresh(tp, access.refresh_endpoint)
            except ConnectorError as exc:
                if exc.code != DELIVERED:
                    raise
                # The data was delivered in full: no fresh token, but the one held still fetches the seal.
                delivered = True
            else:
                access = EndpointAccess.from_address(address)
                received_at = self.plane.now()
                await self.store.run(self._keep_address, tp, address, received_at)
        expires = access.expires_at(received_at)
        return {
            "transferId": tp.id,
            "providerPid": tp.provider_pid,
            "consumerPid": tp.consumer_pid or tp.id,
            "agreementId": tp.agreement_id,
            "datasetId": agreement.dataset_id if agreement else None,
            "providerId": tp.peer_id,
            "endpoint": access.endpoint,
            "authorization": access.token,
            "authorizationHeader": access.authorization_header(),
            "sealEndpoint": access.seal_endpoint,
            "expiresAt": iso(expires),
            "trustAnchors": [cert_pem(c).decode("ascii") for c in self.trust_anchors()],
            "delivered": delivered,
        }

    async def _refresh(self, tp: Transfer, url: str) -> Mapping[str, Any]:
        peers = self.plane.peers
        response = await peers.post(url, None, expected_peer=tp.peer_id)
        if not response.ok or not isinstance(response.body, dict):
            code = {409: "transfer.invalid_state", 410: "transfer.invalid_state", 503: "peer.unavailable"}
            said = response.body.get("code") if isinstance(response.body, dict) else None
            raise ConnectorError(
                DELIVERED if said == "dataplane.delivered" else code.get(response.status, "peer.refused"),
                f"the provider gave no fresh token: {response.error_reason()}",
            )
        return response.body

    def _keep_address(self, db: Tx, tp: Transfer, address: Mapping[str, Any], at: datetime) -> None:
        flow = get_flow(db, tp.id) or Flow(tp.id, "consumer", PULL, at)
        save_flow(db, dataclasses.replace(flow, address=dict(address), updated_at=at))

    # --- seals ----------------------------------------------------------------------------------------------------

    async def _expectation(self, transfer_id: str) -> tuple[Transfer, SealExpectation]:
        """What the seal must state, known independently of it (waiting briefly for the provider's pid, which a
        push can outrun)."""
        deadline = asyncio.get_running_loop().time() + PROVIDER_PID_WAIT
        while True:
            tp, agreement, _ = await self.store.read(self._load, transfer_id)
            if tp.provider_pid or asyncio.get_running_loop().time() >= deadline:
                break
            await asyncio.sleep(0.05)  # rare: the answer to our request is being processed right now
        if agreement is None or not tp.provider_pid:
            raise ConnectorError("transfer.invalid_state", "the transfer's agreement or provider process is unknown")
        return tp, SealExpectation(
            dataset_id=agreement.dataset_id,
            agreement_id=tp.agreement_id,
            provider_pid=tp.provider_pid,
            consumer_pid=tp.consumer_pid or tp.id,
            issuer=tp.peer_id,
        )

    async def judge_seal(self, transfer_id: str, seal: Any, digest: Digest) -> SealFacts:
        """Verify the provider's seal of `digest`; keep it, or terminate the transfer with the reason."""
        tp, expected = await self._expectation(transfer_id)
        if tp.is_terminal:
            raise ConnectorError("transfer.invalid_state", f"the transfer is already {tp.state}")
        try:
            facts = verify_seal(
                seal,
                digest.sha256,
                digest.size,
                expected,
                self.trust_anchors(),
                self.plane.now(),
                check_revocation=self._revoked,
            )
        except SealError as exc:
            reason = f"the provider's seal was refused: {exc.reason}"
            await self.store.run(self._record_refusal, transfer_id, exc.problem, seal)
            try:
                await self.plane.control.transfer_command(transfer_id, "terminate", reason)
            except ConnectorError as end:
                log.info("transfer not terminated", extra={"transfer": transfer_id, "reason": end.reason})
            raise ConnectorError(exc.code, reason, exc.where) from None
        await self.store.run(self._keep_seal, transfer_id, seal, facts)
        return facts

    def _keep_seal(self, db: Tx, transfer_id: str, seal: Any, facts: SealFacts) -> None:
        tp = repo.get_transfer(db, transfer_id)
        assert tp is not None
        now = self.plane.now()
        flow = get_flow(db, transfer_id) or Flow(transfer_id, "consumer", kind_of(tp.format), now)
        seal_json = seal if isinstance(seal, Mapping) else None
        save_flow(
            db,
            dataclasses.replace(
                flow,
                seal=dict(seal_json) if seal_json else None,
                sha256=facts.claims.sha256,
                size=facts.claims.size,
                seal_verified_at=facts.verified_at,
                seal_signer=facts.signer_fingerprint,
                updated_at=now,
            ),
        )
        self.plane.control.note(
            db,
            tp,
            "seal verified",
            None,
            {
                "sha256": facts.claims.sha256,
                "size": facts.claims.size,
                "signer": facts.signer_fingerprint,
                "anchor": facts.anchor_subject,
            },
        )
        self.plane.evidence(
            db,
            "seal.received",
            process_id=transfer_id,
            peer=tp.peer_id,
            subject=seal_json,
            data={"sha256": facts.claims.sha256, "size": facts.claims.size},
        )

    def _record_refusal(self, db: Tx, transfer_id: str, problem: Problem, seal: Any) -> None:
        tp = repo.get_transfer(db, transfer_id)
        if tp is None:
            return
        self.plane.control.note(db, tp, "seal refused", problem.reason, {"code": problem.code, "where": problem.where})
        self.plane.evidence(
            db,
            "seal.refused",
            process_id=transfer_id,
            peer=tp.peer_id,
            subject=seal if isinstance(seal, Mapping) else None,
            data={"code": problem.code, "reason": problem.reason},
        )

    async def accept_pulled_seal(self, transfer_id: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """Management: the puller reports the digest of what it received and the seal the provider gave."""
        sha256, size, seal = body.get("sha256"), body.get("size"), body.get("seal")
        if not isinstance(sha256, str) or _HEX64.fullmatch(sha256) is None:
            raise ConnectorError("request.invalid", "'sha256' must be 64 lowercase hex digits", "sha256")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ConnectorError("request.invalid", "'size' must be the number of bytes received", "size")
        if seal is not None and not isinstance(seal, Mapping):
            raise ConnectorError("request.invalid", "'seal' must be the seal object the provider served", "seal")
        tp, _, flow = await self.store.read(self._load, transfer_id)
        if kind_of(tp.format) != PULL:
            raise ConnectorError("transfer.invalid_state", "the seal of pushed data arrives with the push")
        if seal is None:
            return await self._unsealed(tp, flow, Digest(sha256, size))
        facts = await self.judge_seal(transfer_id, seal, Digest(sha256, size))
        self.plane.meter.moved(RECEIVED, tp.peer_id, size)  # pulled by this node's command line
        return facts_json(facts)

    async def _unsealed(self, tp: Transfer, flow: Flow | None, digest: Digest) -> dict[str, Any]:
        """The puller received the data without a seal: kept as unsealed when the provider offers none and no seal
        is required; otherwise refused like a seal that does not verify."""
        if offers_seal(tp, flow):
            problem = Problem("seal.missing", "the provider serves a seal of this data, and none was reported", "seal")
        elif self.plane.require_seals:
            problem = Problem(
                "seal.required",
                "the provider does not seal its data, and this node requires seals ([evidence] require_seals)",
                "seal",
            )
        else:
            await self.store.run(self._keep_unsealed, tp.id, digest)
            return {"verified": False, "sealed": False, "sha256": digest.sha256, "size": digest.size}
        reason = f"the provider's seal was refused: {problem.reason}"
        await self.store.run(self._record_refusal, tp.id, problem, None)
        try:
            await self.plane.control.transfer_command(tp.id, "terminate", reason)
        except ConnectorError as end:
            log.info("transfer not terminated", extra={"transfer": tp.id, "reason": end.reason})
        raise ConnectorError(problem.code, reason, problem.where)

    def _keep_unsealed(self, db: Tx, transfer_id: str, digest: Digest) -> None:
        tp = repo.get_transfer(db, transfer_id)
        assert tp is not None
        now = self.plane.now()
        flow = get_flow(db, transfer_id) or Flow(transfer_id, "consumer", PULL, now)
        save_flow(db, dataclasses.replace(flow, sha256=digest.sha256, size=digest.size, updated_at=now))
        why = "the provider's data address offers no seal"
        self.plane.control.note(db, tp, "data received unsealed", why, {"sha256": digest.sha256, "size": digest.size})
        self.plane.evidence(
            db,
            UNSEALED,
            process_id=transfer_id,
            peer=tp.peer_id,
            data={"sha256": digest.sha256, "size": digest.size, "reason": why},
        )

    # --- push: receiving ------------------------------------------------------------------------------------------

    async def _admit_push(self, request: web.Request) -> tuple[Transfer, Flow]:
        peer = peer_of(request)
        token = bearer_token(request.headers.get("Authorization"))
        transfer_id = request.match_info["transfer"]

        def check(db: Tx) -> tuple[Transfer, Flow] | AccessRefusal:
            tp = repo.get_transfer(db, transfer_id)
            flow = get_flow(db, transfer_id)
            refusal = check_push_receipt(transfer_id, tp, flow, token, peer.participant_id)
            if refusal is not None:
                return refusal
            assert tp is not None and flow is not None
            return tp, flow

        outcome = await self.store.read(check)
        if isinstance(outcome, AccessRefusal):
            raise Refused(outcome)
        return outcome

    async def receive_push(self, request: web.Request) -> web.Response:
        tp, flow = await self._admit_push(request)
        target = self.plane.inbox / _safe_name(tp.id)
        self.forget(tp.id, discard=False)
        try:
            download = await AtomicDownload.begin(
                target, tp.id, request.content_length, replace_foreign=True, overwrite=True, executor=self.plane.pool
            )
            if download.offset:
                await download.restart()  # a push always starts from its first byte
        except DownloadError as exc:
            raise _unwritable(tp.id, exc) if exc.code in UNWRITABLE else exc from None
        handle = self.plane.streams.open(tp.id, "push-in", transport=request.transport)
        try:
            received = await receive_into(
                download, stalling(request.content.iter_any(), self.plane.limits.body_timeout)
            )
        except (aiohttp.ClientError, ConnectionError, asyncio.CancelledError, DownloadError) as exc:
            await download.pause()
            if isinstance(exc, asyncio.CancelledError):
                raise
            if isinstance(exc, DownloadError) and exc.code in UNWRITABLE:
                raise _unwritable(tp.id, exc) from None
            why = handle.stopped or (exc.reason if isinstance(exc, ConnectorError) else "the stream broke")
            raise Refused(
                AccessRefusal(400, Problem("dataplane.incomplete", f"the pushed data is incomplete: {why}"))
            ) from None
        finally:
            self.plane.streams.close(handle)
        if request.content_length is not None and received != request.content_length:
            await download.pause()
            raise Refused(
                AccessRefusal(400, Problem("dataplane.incomplete", "the pushed data is shorter than announced"))
            )
        digest = download.digest()
        self.plane.meter.moved(RECEIVED, tp.peer_id, digest.size)
        self._receipts[tp.id] = Receipt(download, digest)
        await self.store.run(self._note_received, tp.id, digest, str(target))
        return web.json_response({"received": digest.size, "sha256": digest.sha256})

    def _note_received(self, db: Tx, transfer_id: str, digest: Digest, file: str) -> None:
        flow = get_flow(db, transfer_id)
        if flow is not None:
            save_flow(
                db,
                dataclasses.replace(
                    flow, sha256=digest.sha256, size=digest.size, file=file, updated_at=self.plane.now()
                ),
            )

    async def receive_push_seal(self, request: web.Request) -> web.Response:
        tp, _ = await self._admit_push(request)
        receipt = self._receipts.get(tp.id)
        if receipt is None:
            raise Refused(
                AccessRefusal(
                    409,
                    Problem("dataplane.nothing_received", "no pushed data of this transfer is waiting for its seal"),
                )
            )
        try:
            seal = await read_json(request, self.plane.limits.max_message_bytes, self.plane.limits.body_timeout)
        except ConnectorError as exc:
            if exc.code in CLOSING:
                raise
            seal = None
        try:
            facts = await self.judge_seal(tp.id, seal, receipt.digest)
        except ConnectorError:
            self.forget(tp.id, discard=True)
            raise
        self._receipts.pop(tp.id, None)
        path = await receipt.download.commit(facts)
        log.info("pushed data received", extra={"transfer": tp.id, "file": str(path), "bytes": receipt.digest.size})
        if self.plane.duties is not None:
            try:
                await self.plane.duties.received(tp.id, str(path))
            except (ConnectorError, StoreError) as exc:  # the data is here; its duties must not be forgotten quietly
                log.error("the duties of pushed data were not recorded: %s", exc, extra={"transfer": tp.id})
        return web.json_response(facts_json(facts))


UNSEALED = "seal.absent"  # the evidence log's record of data received from a provider that does not seal


def offers_seal(tp: Transfer, flow: Flow | None) -> bool:
    """Whether the provider's latest data address for a pull offers a seal of the data."""
    address = (flow.address if flow is not None and flow.address else None) or tp.data_address
    try:
        return EndpointAccess.from_address(address).seal_endpoint is not None
    except AddressError:
        return True  # an address that cannot be read offers nothing, and excuses nothing either


def accepted_unsealed(tp: Transfer, flow: Flow | None, require_seals: bool) -> bool:
    """A consumer's pull completed without a seal: the digest was kept and the provider offers no seal."""
    return (
        not require_seals
        and flow is not None
        and flow.seal_verified_at is None
        and flow.sha256 is not None
        and kind_of(tp.format) == PULL
        and not offers_seal(tp, flow)
    )


def facts_json(facts: SealFacts) -> dict[str, Any]:
    return {
        "verified": True,
        "sealed": True,
        "sha256": facts.claims.sha256,
        "size": facts.claims.size,
        "kid": facts.kid,
        "issuer": facts.claims.issuer,
        "issuedAt": iso(facts.claims.issued_at),
        "signerSha256": facts.signer_fingerprint,
        "anchor": facts.anchor_subject,
        "verifiedAt": iso(facts.verified_at),
    }
