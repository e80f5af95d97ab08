"""The data plane of a running node, and its side of the seam with the control plane.

The control plane calls `start`, `resume`, `after_change`, `completed_by_peer`, `push_destination` and
`before_complete` (its `control.ports.DataPlane` port), always on the store's thread and inside its transaction:
these calls only read and write rows (flows, tokens) and schedule work onto the event loop; they never touch the
network. Everything else (serving pulls, pushing, receiving pushes, fetching fresh tokens, verifying seals) runs
on the event loop in `provider.py` and `consumer.py`, behind the data listener and a few management endpoints.
The data plane is given what it uses and nothing else (the store, the control plane's narrow `TransferControl`
port, the trust edge's `PeerStanding` port, the identity, the trust material, the evidence sink), so that it can
later move into a process of its own. Data flows only while the peer is in standing (`standing.py`).

Replicas of the node (a PostgreSQL store shared by several processes) serve any pull, token or push of any
transfer from the rows they share; what lives in one process's memory is kept in step through the store's
`Coordination`: a transfer that stops has its streams stopped on every replica, a new pull stops the older one
wherever it runs, and a push is sent by the one replica that claimed it (taken over if that replica dies).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import secrets
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp

from connector import keys
from connector.config import DataSection, LimitsSection, Listen
from connector.dataplane.address import data_address, pull_address
from connector.dataplane.endpoint_access import PULL, PUSH, AccessRefusal, kind_of, token_digest
from connector.dataplane.ports import PeerStanding, TransferControl, UsageDuties
from connector.dataplane.pull_tokens import TokenClaims, issue_token
from connector.dataplane.standing import STANDING_REFUSED, StandingWatch, out_of_standing, transient
from connector.dataplane.streams import NEWER_PULL, OpenStreams
from connector.dsp.vocabulary import Role, TransferState
from connector.errors import ConnectorError, Problem
from connector.evidence.recorder import EvidenceSink, no_evidence
from connector.identity import NodeIdentity
from connector.records.flows import Flow
from connector.records.processes import Transfer
from connector.sources import SourceContext
from connector.store.coordination import SOLO
from connector.store.interface import Coordination, Store, Tx
from connector.store.sql import processes as repo
from connector.store.sql.flows import get_flow, save_flow
from connector.tasks import Tasks
from connector.telemetry import NO_METER, Meter
from connector.web.endpoints import PublicEndpoints
from connector.web.peer_client import PeerClient
from connector.web.tls import PeerTls

if TYPE_CHECKING:
    from aiohttp import web

    from connector.dataplane.consumer import ConsumerSide
    from connector.dataplane.provider import ProviderSide

log = logging.getLogger("connector.dataplane")

LISTENER = "data"
DATA_PATH = "/data/"
PUSH_PATH = "/push/"
_STOPPING = (TransferState.SUSPENDED, TransferState.TERMINATED, TransferState.COMPLETED)


def _utcnow() -> datetime:
    return datetime.now(UTC)


def pushes_to_resume(db: Tx) -> list[str]:
    """The pushes this node provides that were STARTED and never completed."""
    return [
        t.id
        for t in repo.open_transfers(db)
        if t.role == Role.PROVIDER and t.state == TransferState.STARTED and kind_of(t.format) == PUSH
    ]


class DataPlane:
    def __init__(
        self,
        *,
        settings: DataSection,
        data_dir: Path,
        protocol_host: str,
        identity: NodeIdentity,
        endpoints: PublicEndpoints,
        store: Store,
        tasks: Tasks,
        tls: PeerTls,
        peers: PeerClient,
        control: TransferControl,
        standing: PeerStanding,
        evidence: EvidenceSink = no_evidence,
        duties: UsageDuties | None = None,
        limits: LimitsSection | None = None,
        protected_files: tuple[Path, ...] = (),
        clock: Callable[[], datetime] = _utcnow,
        require_seals: bool = False,
        meter: Meter = NO_METER,
        coordination: Coordination = SOLO,
    ) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.protocol_host = protocol_host
        self.identity = identity
        self.earlier_token_keys: list[Any] = []  # keys of pull tokens issued before the signing key was rotated
        self.endpoints = endpoints
        self.store = store
        self.tasks = tasks
        self.tls = tls
        self.peers = peers
        self.control = control
        self.standing = standing
        self.watch = StandingWatch(self, settings.standing_interval)
        self.evidence = evidence
        self.duties = duties
        self.limits = limits or LimitsSection()
        self.protected_files = protected_files  # never served by a source (the node's own store)
        self.clock = clock
        self.require_seals = require_seals  # refuse pulled data a provider does not seal
        self.meter = meter  # bytes moved, refusals at the data listener
        self.streams = OpenStreams()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.pool: ThreadPoolExecutor | None = None
        self.backend: aiohttp.ClientSession | None = None  # for the provider's own HTTP back ends
        self.context = SourceContext()
        self._pushes_wanted: set[str] = set()  # provider push flows started in a transaction not yet seen STARTED
        self.coordination = coordination
        coordination.on("process", self._changed_elsewhere)
        coordination.on("halt", self._newer_pull_elsewhere)
        coordination.claimant("push", self._take_push, self.resume_pushes)

    # --- lifecycle ----------------------------------------------------------------------------------------------

    @property
    def listen(self) -> Listen:
        if self.settings.listen is not None:
            return self.settings.listen
        return Listen(self.protocol_host, 0)

    def use_identity(self, identity: NodeIdentity) -> None:
        """A reloaded identity: new pull tokens are signed with its key; those signed with the previous key are
        still accepted while they live (at most the token lifetime), so that pulls under way go on."""
        if not keys.same_public_key(identity.signing_key, self.identity.signing_key):
            self.earlier_token_keys = [self.identity.signing_key.public_key(), *self.earlier_token_keys][:2]
        self.identity = identity

    async def open(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.pool = ThreadPoolExecutor(max_workers=self.settings.workers, thread_name_prefix="dataplane")
        # Back ends are the provider's own services: its public CAs, not the federation's, and never our
        # participant certificate; redirects are refused by the source itself.
        self.backend = aiohttp.ClientSession(auto_decompress=False, read_bufsize=4 * 1024 * 1024)
        roots = self.settings.file_roots()
        self.context = SourceContext(
            file_roots=roots,
            http_session=self.backend,
            protected_files=self.protected_files,
            executor=self.pool,
        )
        self.inbox.mkdir(parents=True, exist_ok=True)

    @functools.cached_property
    def consumer(self) -> ConsumerSide:
        """The consumer's side, made when first needed (data pushed to us, a pulled transfer's access or seal asked
        for); until then it holds nothing to stop or forget."""
        from connector.dataplane.consumer import ConsumerSide

        return ConsumerSide(self)

    @functools.cached_property
    def provider(self) -> ProviderSide:
        """The provider's side, made when first needed (a pull, its seal or a fresh token asked for, a push to
        send); until then it holds nothing to stop or forget."""
        from connector.dataplane.provider import ProviderSide

        return ProviderSide(self)

    def _made(self, side: str) -> bool:
        """Whether that side (`consumer`, `provider`) was made: until then there is nothing of it to stop or forget."""
        return side in vars(self)

    async def resume_pushes(self) -> None:
        """Push again what this node provides that was STARTED and never completed (after a restart, and when a
        replica's pushes become this one's); the provider's side is made for it only if there is any."""
        transfer_ids = await self.store.read(pushes_to_resume)
        if transfer_ids:
            self.provider.resume_pushes(transfer_ids)

    def _take_push(self, transfer_id: str) -> None:
        self.provider.take_push(transfer_id)

    async def after_listening(self) -> None:
        await self.resume_pushes()
        self.tasks.spawn(self.watch.run(), "data-standing")

    async def close(self) -> None:
        self.streams.halt_all("the node is stopping")
        if self._made("provider"):
            await self.provider.stop()
        if self._made("consumer"):
            await self.consumer.stop()
        if self.backend is not None:
            await self.backend.close()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def build_app(self) -> web.Application:
        from connector.dataplane.listener import build_data_app

        return build_data_app(self)

    # --- shared helpers -------------------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self.clock()

    @property
    def inbox(self) -> Path:
        inbox = self.settings.inbox
        return inbox if inbox.is_absolute() else self.data_dir / inbox

    @property
    def base_url(self) -> str:
        """The data listener's URL as peers reach it (read when needed: the port may be chosen at bind time)."""
        return self.endpoints.data()

    def pull_endpoint(self, transfer_id: str) -> str:
        return self.base_url + DATA_PATH + quote(transfer_id, safe=":")

    def push_endpoint(self, transfer_id: str) -> str:
        return self.base_url + PUSH_PATH + quote(transfer_id, safe=":")

    async def transfer(self, transfer_id: str) -> Transfer | None:
        return await self.store.read(repo.get_transfer, transfer_id)

    def refuse_standing(self, db: Tx, tp: Transfer, problem: Problem, during: str) -> AccessRefusal:
        """A token or data refused for the peer's standing: recorded, answered 403 (503 when it could not be
        decided now; the caller ends the transfer otherwise)."""
        self._note_standing(db, tp, problem, during)
        if transient(problem):
            return AccessRefusal(503, problem)
        return AccessRefusal(
            403, Problem(problem.code, f"{out_of_standing(problem)}; the transfer is terminated", problem.where)
        )

    def note_standing(self, db: Tx, transfer_id: str, problem: Problem, during: str) -> None:
        tp = repo.get_transfer(db, transfer_id)
        if tp is not None:
            self._note_standing(db, tp, problem, during)

    def _note_standing(self, db: Tx, tp: Transfer, problem: Problem, during: str) -> None:
        cause = f"{during} refused: the peer is not in standing" + (" now" if transient(problem) else "")
        self.control.note(db, tp, cause, problem.reason, {"code": problem.code, "where": problem.where})
        self.evidence(
            db,
            STANDING_REFUSED,
            process_id=tp.id,
            peer=tp.peer_id,
            data={"during": during, "code": problem.code, "reason": problem.reason, "transient": transient(problem)},
        )

    def call_soon(self, fn: Any, *args: Any) -> None:
        """Schedule `fn` on the event loop from any thread (the store's thread calls the seam)."""
        if self.loop is not None and not self.loop.is_closed():
            self.loop.call_soon_threadsafe(fn, *args)

    def issue_pull_token(self, tp: Transfer, now: datetime, cert_sha256: str | None) -> tuple[str, TokenClaims]:
        identity = self.identity
        lifetime = timedelta(seconds=self.settings.token_lifetime)
        claims = TokenClaims(
            issuer=identity.participant_id,
            subject=tp.peer_id,
            transfer_id=tp.id,
            agreement_id=tp.agreement_id,
            token_id=secrets.token_urlsafe(18),
            issued_at=int(now.timestamp()),
            expires_at=int((now + lifetime).timestamp()),
            cert_sha256=cert_sha256,
        )
        return issue_token(identity.signing_key, identity.signing_kid, claims), claims

    def new_pull_address(self, db: Tx, tp: Transfer, cert_sha256: str | None, restarted: bool) -> dict[str, Any]:
        """Issue a fresh token (retiring the previous one) and record it; returns the DataAddress."""
        now = self.now()
        token, claims = self.issue_pull_token(tp, now, cert_sha256)
        expires = datetime.fromtimestamp(claims.expires_at, now.tzinfo)
        flow = get_flow(db, tp.id) or Flow(tp.id, "provider", PULL, now)
        save_flow(
            db,
            dataclasses.replace(
                flow,
                epoch=flow.epoch + (1 if restarted else 0),
                updated_at=now,
                token_id=claims.token_id,
                token_cert=cert_sha256,
                token_expires_at=expires,
            ),
        )
        return pull_address(self.pull_endpoint(tp.id), token, now, expires)

    # --- the seam (store thread, inside the control plane's transaction) --------------------------------------------

    def start(self, db: Tx, tp: Transfer) -> dict[str, Any] | None:
        """Provider, REQUESTED -> STARTED: a pull address with a fresh token, or (push) None and a push to come."""
        return self._begin(db, tp)

    def resume(self, db: Tx, tp: Transfer) -> dict[str, Any] | None:
        """Provider, SUSPENDED -> STARTED: a fresh token (the old one stays retired), or the push again."""
        return self._begin(db, tp)

    def _begin(self, db: Tx, tp: Transfer) -> dict[str, Any] | None:
        if kind_of(tp.format) == PULL:
            return self.new_pull_address(db, tp, None, restarted=True)
        now = self.now()
        flow = get_flow(db, tp.id) or Flow(tp.id, "provider", PUSH, now)
        save_flow(db, dataclasses.replace(flow, epoch=flow.epoch + 1, updated_at=now))
        self._pushes_wanted.add(tp.id)
        return None

    def after_change(self, tp: Transfer) -> None:
        """After every change of a transfer: stop its streams when it no longer runs; start a push when due."""
        if tp.state in _STOPPING:
            self._pushes_wanted.discard(tp.id)
            self.call_soon(self._halt, tp.id, str(tp.state))
        elif tp.state == TransferState.STARTED and tp.role == Role.PROVIDER and tp.id in self._pushes_wanted:
            self._pushes_wanted.discard(tp.id)
            self.call_soon(self.provider.start_push, tp.id)

    def _changed_elsewhere(self, body: str) -> None:
        """Another replica committed a change of a process: a transfer that no longer runs stops here too."""
        kind, _, rest = body.partition(" ")
        state, _, transfer_id = rest.partition(" ")
        if kind == "transfer" and state in _STOPPING:
            self._halt(transfer_id, state)

    def _newer_pull_elsewhere(self, transfer_id: str) -> None:
        self.streams.halt(transfer_id, NEWER_PULL, what="pull")

    def _halt(self, transfer_id: str, state: str) -> None:
        self.streams.halt(transfer_id, f"the transfer is {state}")
        ended = state in (str(TransferState.TERMINATED), str(TransferState.COMPLETED))
        if ended and self._made("provider"):
            self.provider.forget(transfer_id)
        if self._made("consumer"):
            self.consumer.forget(transfer_id, discard=state == str(TransferState.TERMINATED))

    def completed_by_peer(self, db: Tx, tp: Transfer) -> dict[str, Any]:
        """The peer reported completion: what the data plane can say about it, for the history."""
        flow = get_flow(db, tp.id)
        if flow is None:
            return {}
        if tp.role == Role.PROVIDER:
            return {"dataplane": {"bytesSent": flow.bytes_sent, "sealIssued": flow.seal is not None}}
        return {"dataplane": {"sealVerified": flow.seal_verified_at is not None, "sha256": flow.sha256}}

    def push_destination(self, db: Tx, transfer_id: str, agreement_id: str) -> dict[str, Any]:
        """Consumer: where a provider should push a transfer's data (our listener, with a token we issued)."""
        token = secrets.token_urlsafe(32)
        save_flow(db, Flow(transfer_id, "consumer", PUSH, self.now(), token_id=token_digest(token)))
        return data_address(self.push_endpoint(transfer_id), token)

    def before_complete(self, db: Tx, tp: Transfer) -> None:
        """Consumer: a transfer is reported COMPLETED only once the provider's seal of its data is verified, or
        its data was received from a provider that offers no seal (kept as unsealed, unless seals are required)."""
        from connector.dataplane.consumer import accepted_unsealed

        if tp.role != Role.CONSUMER:
            return
        flow = get_flow(db, tp.id)
        if accepted_unsealed(tp, flow, self.require_seals):
            return
        if flow is None or flow.seal_verified_at is None:
            raise ConnectorError(
                "transfer.invalid_state",
                "the provider's seal of the data has not been verified yet; a consumer completes a transfer only "
                f"after verifying it (POST /v1/transfers/{tp.id}/seal)",
                None,
                unsealed=True,
            )

    # --- management (consumer side, and views) ----------------------------------------------------------------------

    async def flow_view(self, transfer_id: str) -> dict[str, Any]:
        def load(db: Tx) -> tuple[Transfer | None, Flow | None]:
            return repo.get_transfer(db, transfer_id), get_flow(db, transfer_id)

        tp, flow = await self.store.read(load)
        if tp is None:
            raise ConnectorError("transfer.not_found", f"no transfer '{transfer_id}'")
        view: dict[str, Any] = flow.to_api() if flow is not None else {"transferId": transfer_id}
        view["openStreams"] = self.streams.count(transfer_id)
        return view
