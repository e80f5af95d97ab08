"""Evidence in a running node: `attach(node)` wires the log, the agreement signer and checkpoints into it.

When the node has a signing identity and ``[evidence] enabled`` (the default), a start hook sets:

- ``node.evidence``: a `NodeEvidence`, the entry point for every subsystem that has something to log;
- ``node.control.env.evidence``: its `sink`, which the control-plane steps call inside their transactions;
- ``node.control.env.signer``: the `AgreementSigner` (proof of intent in the negotiation steps).

How other subsystems log (the record is committed together with the caller's own change, or not at all)::

    node.evidence.append(db, "credential.verified", peer=did, data={...})   # on the store thread, in a transaction
    await node.evidence.record("data.sealed", process_id=transfer_id, peer=did, subject=seal_json)  # outside one
    await node.evidence.record_refusal(problem, peer, path)                  # a peer refused at the DSP edge

`subject` is any JSON value: it is hashed into the record and its canonical body kept, so exports can show it;
`data` stays small (it is bounded here). A record with a ``process_id`` also names the previous record about the
same process (journal.PROCESS_PREV), which lets an auditor see that an export left none out. Seals are logged
with the seal JSON as subject and the transfer's id as ``process_id`` (the data plane's ``data.sealed`` and
``data.seal_verified``): that is how an exported bundle proves them.

Background work: a signed checkpoint every ``checkpoint_interval`` seconds when records were added (and at
shutdown), time-stamped when ``tsa_url`` is set (a checkpoint the TSA could not stamp is retried at the next interval
and at start, and the one an export relies on is stamped before it is exported).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509

from connector import keys
from connector.canonical import sha256_hex
from connector.errors import ConnectorError, Problem
from connector.evidence import export, tables
from connector.evidence.agreement_signer import AgreementSigner, Anchors
from connector.evidence.chain import MAX_DATA_BYTES, Record
from connector.evidence.checkpoint import checkpoint_digest, checkpoint_sha256, make_checkpoint
from connector.evidence.errors import EvidenceError
from connector.evidence.journal import SUBJECT_UNUSABLE, Journal
from connector.evidence.log_check import LogCheck, check_log
from connector.evidence.rfc3339 import format_utc
from connector.evidence.signer import SigningIdentity
from connector.evidence.tsa_client import request_timestamp

if TYPE_CHECKING:
    from connector.node.runtime import Node

log = logging.getLogger("connector.evidence")

CHECKPOINT = "checkpoint"
TIMESTAMPED = "checkpoint.timestamped"
QUIET_KINDS = (CHECKPOINT, TIMESTAMPED)  # what checkpointing itself adds: no reason for another checkpoint
PEER_REFUSED = "peer.refused"
MAX_TEXT = 500
REFUSALS_PER_MINUTE = 30  # per peer: a flood of refused requests must not become a flood of permanent rows
EXPORT_ROUNDS = 3

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


SAFE_INTEGER = 2**53 - 1  # canonical JSON numbers are IEEE doubles


def _bounded(value: Any, depth: int = 0) -> Any:
    """`data` with long strings cut and deep nesting summarised: records point to evidence, they are not it."""
    kind = type(value)
    # The exact JSON types first, as the general rules below treat them (typing's isinstance checks are slow).
    if kind is str:
        return value if len(value) <= MAX_TEXT else _cut(value)
    if value is None or kind is bool or kind is float:
        return value
    if kind is int:
        return value if abs(value) <= SAFE_INTEGER else str(value)
    if kind is dict:
        return {str(k): _bounded(v, depth + 1) for k, v in value.items()} if depth < 6 else "(nested)"
    if kind is list:
        return [_bounded(v, depth + 1) for v in value[:100]] if depth < 6 else "(nested)"
    if isinstance(value, str):
        return value if len(value) <= MAX_TEXT else _cut(value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > SAFE_INTEGER:
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _bounded(v, depth + 1) for k, v in value.items()} if depth < 6 else "(nested)"
    if isinstance(value, (list, tuple)):
        return [_bounded(v, depth + 1) for v in value[:100]] if depth < 6 else "(nested)"
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return str(value)


def _cut(text: str) -> str:
    return text[:MAX_TEXT] + f"... (sha256 {sha256_hex(text.encode('utf-8', 'surrogatepass'))})"


# Built once: `json.dumps` with options constructs an encoder on every call.
_encode_for_size = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _safe_data(data: Mapping[str, Any] | None) -> dict[str, Any]:
    bounded = _bounded(dict(data or {}))
    try:
        # The size as plain JSON (fast) is within a few bytes of the canonical size; keep well clear of the limit.
        size = len(_encode_for_size(bounded))
    except ValueError:
        return {"unrepresentable": True}
    if size > MAX_DATA_BYTES - 1024:
        return {"oversized": True, "keys": sorted(bounded)[:50]}
    return bounded


def _peer(value: Any) -> str | None:
    return value if isinstance(value, str) and value.startswith("did:") and len(value) <= 1024 else None


class NodeEvidence:
    """The node's evidence log and what writes to it. Methods taking `db` run on the store thread."""

    def __init__(self, node: Node, identity: SigningIdentity, clock: Clock = _utcnow) -> None:
        self.node = node
        self.settings = node.config.evidence
        self.identity = identity
        self.clock = clock
        self.journal = Journal(clock)
        self.signer = AgreementSigner(
            identity,
            self.append,
            Anchors(self._anchors, self._revoked, self._any_revoked),
            self.settings.require_signatures,
            clock,
        )
        self._tsa_anchors: list[x509.Certificate] = [
            c for p in self.settings.tsa_certificates for c in keys.load_certificates(p)
        ]
        self._refusals: dict[str | None, tuple[float, int, int]] = {}  # peer -> (window start, count, suppressed)
        self._checkpointing = asyncio.Lock()

    # --- trust ----------------------------------------------------------------------------------------------

    def _anchors(self) -> list[x509.Certificate]:
        return list(self.node.trust.cas) if self.node.trust is not None else []

    def _any_revoked(self) -> bool:
        return self.node.trust is not None and any(self.node.trust.revoked.values())

    def _revoked(self, cert: x509.Certificate) -> bool:
        trust = self.node.trust
        if trust is None:
            return False
        return cert.serial_number in trust.revoked.get(cert.issuer.public_bytes(), frozenset())

    def tsa_anchors(self) -> list[x509.Certificate]:
        return self._tsa_anchors or self._anchors()

    # --- writing --------------------------------------------------------------------------------------------

    def append(
        self,
        db: Any,
        kind: str,
        *,
        process_id: str | None = None,
        peer: str | None = None,
        subject: Any = None,
        data: Mapping[str, Any] | None = None,
        subject_json: bytes | None = None,
    ) -> Record:
        """Log one record inside the caller's transaction (store thread): committed with it, or not at all."""
        safe = _safe_data(data)
        if peer is not None and _peer(peer) is None:
            safe["peer_name"] = str(peer)[:MAX_TEXT]
        pid = process_id[:1024] if isinstance(process_id, str) and process_id else None
        try:
            return self.journal.append(
                db, kind, process_id=pid, peer=_peer(peer), subject=subject, data=safe, subject_json=subject_json
            )
        except EvidenceError as exc:
            if exc.code == SUBJECT_UNUSABLE:
                # A peer's message can hold what canonical JSON cannot (NaN, lone surrogates): log that it
                # came, rather than refuse the step the record belongs to.
                safe["subject_unrepresentable"] = exc.reason[:MAX_TEXT]
            elif exc.code == "chain.record_malformed" and exc.where == "data":
                safe = {"unrepresentable": True}
            else:
                raise
        return self.journal.append(db, kind, process_id=pid, peer=_peer(peer), data=safe)

    def sink(
        self,
        db: Any,
        kind: str,
        *,
        process_id: str | None,
        peer: str | None,
        subject: Any = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """The control plane's `StepEnv.evidence`."""
        self.append(db, kind, process_id=process_id, peer=peer, subject=subject, data=data)

    async def record(
        self,
        kind: str,
        *,
        process_id: str | None = None,
        peer: str | None = None,
        subject: Any = None,
        data: Mapping[str, Any] | None = None,
    ) -> Record:
        """Log one record in a transaction of its own (for callers outside the store thread)."""
        assert self.node.store is not None
        return await self.node.store.run(
            lambda db: self.append(db, kind, process_id=process_id, peer=peer, subject=subject, data=data)
        )

    async def record_refusal(self, problem: Problem, peer: str | None, path: str | None) -> None:
        """A peer refused at the protocol edge (authentication, credentials), at most a few per peer a minute."""
        now = time.monotonic()
        start, counted, suppressed = self._refusals.get(peer, (now, 0, 0))
        if now - start >= 60:
            start, counted = now, 0
        if counted >= REFUSALS_PER_MINUTE:
            self._refusals[peer] = (start, counted, suppressed + 1)
            return
        self._refusals[peer] = (start, counted + 1, 0)
        if len(self._refusals) > 10_000:
            self._refusals.clear()
        data: dict[str, Any] = {"code": problem.code, "reason": problem.reason, "path": path}
        if suppressed:
            data["suppressed_before"] = suppressed
        try:
            await self.record(PEER_REFUSED, peer=peer, data=data)
        except (ConnectorError, sqlite3.Error) as exc:
            log.error("refusal not logged: %s", exc)

    # --- checkpoints ----------------------------------------------------------------------------------------

    def _make_checkpoint(self, db: Any, on_demand: bool) -> tuple[tables.StoredCheckpoint | None, bool]:
        head = self.journal.load(db)
        last = tables.latest_checkpoint(db)
        if last is not None and (
            last.count == head.count or (not on_demand and not tables.unannounced_since(db, last.count, QUIET_KINDS))
        ):
            return last, False
        if last is None and head.count == 0 and not on_demand:
            return None, False
        at = self.clock()
        jws = make_checkpoint(self.identity, head, at)
        checkpoint_id = tables.insert_checkpoint(db, head.count, head.hash, format_utc(at), jws)
        self.append(
            db,
            CHECKPOINT,
            data={
                "checkpoint": checkpoint_id,
                "count": head.count,
                "head": head.hash,
                "checkpoint_sha256": checkpoint_sha256(jws),
            },
        )
        return tables.StoredCheckpoint(checkpoint_id, head.count, head.hash, format_utc(at), jws), True

    async def checkpoint(self, on_demand: bool = False, timestamp: bool = True) -> dict[str, Any] | None:
        """Write a signed checkpoint if records were added since the last (on demand: if anything was added at
        all), then time-stamp it when a TSA is configured. Returns the checkpoint's description."""
        assert self.node.store is not None
        async with self._checkpointing:
            checkpoint, created = await self.node.store.run(self._make_checkpoint, on_demand)
            if checkpoint is None:
                return None
            if created:
                log.info("checkpoint written", extra={"checkpoint": checkpoint.id, "count": checkpoint.count})
            stamped = await self.node.store.read(tables.timestamps, checkpoint.id)
            if timestamp and not stamped:
                await self._timestamp(checkpoint)
            return await self.node.store.read(self._describe, checkpoint.id, created)

    def _describe(self, db: Any, checkpoint_id: int, created: bool) -> dict[str, Any]:
        checkpoint = tables.get_checkpoint(db, checkpoint_id)
        assert checkpoint is not None
        return {
            "id": checkpoint.id,
            "count": checkpoint.count,
            "head": checkpoint.head,
            "at": checkpoint.at,
            "created": created,
            "jws": checkpoint.jws,
            "timestamps": [
                {"genTime": t.gen_time, "tsa": t.tsa, "serial": t.serial} for t in tables.timestamps(db, checkpoint_id)
            ],
        }

    async def _timestamp(self, checkpoint: tables.StoredCheckpoint) -> bool:
        url = self.settings.tsa_url
        if not url or self.node.http is None:
            return False
        try:
            stamp = await request_timestamp(
                self.node.http, url, checkpoint_digest(checkpoint.jws), self.tsa_anchors(), self.clock()
            )
        except EvidenceError as exc:
            log.warning(
                "checkpoint not time-stamped: %s", exc.reason, extra={"code": exc.code, "checkpoint": checkpoint.id}
            )
            return False
        stored = tables.StoredTimestamp(
            checkpoint.id, format_utc(stamp.gen_time), stamp.tsa_name, str(stamp.serial), stamp.token
        )

        def keep(db: Any) -> None:
            tables.insert_timestamp(db, stored)
            self.append(
                db,
                TIMESTAMPED,
                data={
                    "checkpoint": checkpoint.id,
                    "gen_time": stored.gen_time,
                    "tsa": stored.tsa,
                    "serial": stored.serial,
                    "token_sha256": sha256_hex(stamp.token),
                    "checkpoint_sha256": checkpoint_sha256(checkpoint.jws),
                },
            )

        assert self.node.store is not None
        await self.node.store.run(keep)
        return True

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.checkpoint_interval)
            try:
                await self.checkpoint()
            except (ConnectorError, sqlite3.Error) as exc:
                log.error("checkpoint failed: %s", exc)

    # --- export and check -----------------------------------------------------------------------------------

    async def export(self, agreement_id: str) -> dict[str, Any]:
        """The evidence bundle of one agreement, with a fresh checkpoint when none covers its records yet."""
        store = self.node.store
        assert store is not None
        documents = await self._did_documents(agreement_id)
        for _ in range(EXPORT_ROUNDS):
            needed = await store.read(export.last_seq_about, agreement_id)
            covering = await store.read(tables.checkpoint_covering, needed) if needed else None
            if covering is None:
                await self.checkpoint(on_demand=True)
                covering = await store.read(tables.checkpoint_covering, needed)
            if covering is not None and self.settings.tsa_url and not await store.read(tables.timestamps, covering.id):
                await self._timestamp(covering)
            try:
                gathered = await store.read(
                    export.gather, agreement_id, self.identity.did, format_utc(self.clock()), documents
                )
            except EvidenceError as exc:
                if exc.code == "evidence.no_checkpoint":
                    continue  # records were added meanwhile; cover them too
                raise
            return gathered.document
        raise EvidenceError("evidence.busy", "records about the agreement keep arriving; try the export again")

    async def _did_documents(self, agreement_id: str) -> dict[str, Any]:
        """Our own DID document, and the peer's when it can be fetched now (best effort: evidence, not a need)."""
        edge = getattr(self.node, "trust_edge", None)
        documents: dict[str, Any] = {}
        if edge is None or not getattr(edge, "holding", False):
            return documents
        try:
            documents[self.identity.did] = edge.holder.document_json()
        except ConnectorError:
            pass
        from connector.control import repository as repo

        assert self.node.store is not None
        agreement = await self.node.store.read(repo.get_agreement, agreement_id)
        if agreement is None:
            return documents
        peer = agreement.consumer_id if agreement.provider_id == self.identity.did else agreement.provider_id
        from connector.trust.did import parse_did
        from connector.trust.edge.fetching import FetchFailed

        try:
            raw = await asyncio.wait_for(edge.fetcher.get(parse_did(peer).url, 256 * 1024), 5.0)
            document = json.loads(raw)
        except (TimeoutError, ConnectorError, FetchFailed, ValueError) as exc:
            log.info("peer DID document not included: %s", exc, extra={"peer": peer})
            return documents
        if isinstance(document, dict) and document.get("id") == peer:
            documents[peer] = document
        return documents

    async def check(self) -> LogCheck:
        assert self.node.store is not None
        return await self.node.store.read(
            check_log, self.identity.did, self._anchors(), self.tsa_anchors(), self.clock()
        )

    async def status(self) -> dict[str, Any]:
        def read(db: Any) -> dict[str, Any]:
            head = tables.head(db)
            last = tables.latest_checkpoint(db)
            return {
                "enabled": True,
                "node": self.identity.did,
                "records": head.count,
                "head": head.hash,
                "requireSignatures": self.settings.require_signatures,
                "checkpointInterval": self.settings.checkpoint_interval,
                "tsaUrl": self.settings.tsa_url or None,
                "lastCheckpoint": None if last is None else {"id": last.id, "count": last.count, "at": last.at},
            }

        assert self.node.store is not None
        return await self.node.store.read(read)


def signing_identity(node: Node) -> SigningIdentity | None:
    identity = node.identity
    if identity is None:
        return None
    return SigningIdentity(
        identity.participant_id, identity.signing_kid, identity.signing_key, identity.signing_cert, (identity.ca_cert,)
    )


def attach(node: Node) -> None:
    """Add evidence to a node before it starts (start, ready and stop hooks; management routes)."""
    from connector.evidence import routes

    node.management_routes.extend(routes.management_routes())
    if not node.config.evidence.enabled:
        return

    async def start(n: Node) -> None:
        identity = signing_identity(n)
        if identity is None:
            log.warning("no evidence log: the node has no signing identity (protocol.insecure_http)")
            return
        evidence = NodeEvidence(n, identity)
        assert n.store is not None
        n.store.on_undo(evidence.journal.forget)  # so the journal may remember more than the head
        evidence.journal.remember_processes()
        head = await n.store.run(evidence.journal.load)
        n.evidence = evidence
        if n.control is not None:
            n.control.env.evidence = evidence.sink
            n.control.env.signer = evidence.signer
        log.info(
            "evidence log open",
            extra={"records": head.count, "require_signatures": evidence.settings.require_signatures},
        )

    async def ready(n: Node) -> None:
        if isinstance(n.evidence, NodeEvidence):
            n.spawn(n.evidence._loop(), "evidence-checkpoints")
            if n.evidence.settings.tsa_url:
                n.spawn(_stamp_latest(n.evidence), "evidence-timestamp")

    async def stop(n: Node) -> None:
        if isinstance(n.evidence, NodeEvidence):
            try:
                await n.evidence.checkpoint(timestamp=False)  # stamped after the next start
            except (ConnectorError, sqlite3.Error) as exc:
                log.error("final checkpoint failed: %s", exc)

    node.start_hooks.append(start)
    node.ready_hooks.append(ready)
    node.stop_hooks.append(stop)


async def _stamp_latest(evidence: NodeEvidence) -> None:
    """At start: time-stamp the latest checkpoint if it went without (e.g. the one written at shutdown)."""
    assert evidence.node.store is not None
    latest = await evidence.node.store.read(tables.latest_checkpoint)
    if latest is not None and not await evidence.node.store.read(tables.timestamps, latest.id):
        await evidence._timestamp(latest)
