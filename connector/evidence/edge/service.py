"""Evidence in a running node: the log, the agreement signer and checkpoints.

When the node has a signing identity and ``[evidence] enabled`` (the default), the composition root makes one
`NodeEvidence` and hands each part the port it needs: the control plane its `sink` (called by the steps inside
their transactions) and its `signer` (proof of intent in the negotiation steps), the data plane and the verifier
the object itself. How parts log (the record is committed together with the caller's own change, or not at all)::

    evidence.append(db, "credential.verified", peer=did, data={...})   # on the store thread, in a transaction
    await evidence.record("data.sealed", process_id=transfer_id, peer=did, subject=seal_json)  # outside one
    await evidence.record_refusal(problem, peer, path)                  # a peer refused at the DSP edge

`subject` is any JSON value: it is hashed into the record and its canonical body kept, so exports can show it
(with the bearer token of any data address in it replaced by the token's digest: `evidence.secrets`);
`data` stays small (it is bounded here). A record with a ``process_id`` also names the previous record about the
same process (journal.PROCESS_PREV), which lets an auditor see that an export left none out. Seals are logged
with the seal JSON as subject and the transfer's id as ``process_id`` (the data plane's ``data.sealed`` and
``data.seal_verified``): that is how an exported bundle proves them.

Archiving (`archive`): the records up to a checkpoint of a given age leave the live store for an archive file
(connector.evidence.edge.archive) with the node's signed manifest; the chain goes on from that checkpoint, and
`check` follows it through the archives.

Background work: a signed checkpoint every ``checkpoint_interval`` seconds when records were added (and at
shutdown), time-stamped when ``tsa_url`` is set (a checkpoint the TSA could not stamp is retried at the next interval
and at start, and the one an export relies on is stamped before it is exported). Of several replicas of the node,
the one holding the claim on this work (`CHECKPOINTS`) writes the checkpoints; another takes it over if it dies.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509

from connector import keys
from connector.canonical import sha256_hex
from connector.config import EvidenceSection
from connector.errors import ConnectorError, Problem
from connector.evidence.archive import ArchiveManifest, make_manifest
from connector.evidence.chain import MAX_DATA_BYTES, Record
from connector.evidence.checkpoint import checkpoint_digest, checkpoint_sha256, make_checkpoint
from connector.evidence.edge import archive as archives
from connector.evidence.edge.agreement_signer import AgreementSigner, Anchors
from connector.evidence.edge.journal import SUBJECT_UNUSABLE, Journal
from connector.evidence.errors import EvidenceError
from connector.evidence.rfc3339 import format_utc
from connector.evidence.secrets import withhold_secrets
from connector.evidence.signer import SigningIdentity
from connector.identity import NodeIdentity
from connector.records.evidence import StoredArchive, StoredCheckpoint, StoredTimestamp
from connector.store.coordination import SOLO
from connector.store.errors import StoreError
from connector.store.interface import Coordination, Store, Tx
from connector.store.sql import evidence as tables
from connector.tasks import Tasks
from connector.web.outgoing import OutgoingHttp
from connector.web.tls import PeerTls

if TYPE_CHECKING:
    from connector.evidence.edge.log_check import LogCheck

log = logging.getLogger("connector.evidence")

CHECKPOINT = "checkpoint"
TIMESTAMPED = "checkpoint.timestamped"
QUIET_KINDS = (CHECKPOINT, TIMESTAMPED)  # what checkpointing itself adds: no reason for another checkpoint
PEER_REFUSED = "peer.refused"
MAX_TEXT = 500
REFUSALS_PER_MINUTE = 30  # per peer: a flood of refused requests must not become a flood of permanent rows
EXPORT_ROUNDS = 3
CHECKPOINTS = "job:checkpoints"  # the claim of the replica that writes and time-stamps the node's checkpoints
ARCHIVING = "job:evidence-archive"  # held by the replica making an evidence archive, while it does

Clock = Callable[[], datetime]
# The DID documents an agreement's bundle includes (ours, and the peer's when it can be fetched now).
DidDocuments = Callable[[str], Awaitable[dict[str, Any]]]


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

    def __init__(
        self,
        identity: SigningIdentity,
        settings: EvidenceSection,
        store: Store,
        tls: PeerTls | None = None,
        http: OutgoingHttp | None = None,
        documents: DidDocuments | None = None,
        clock: Clock = _utcnow,
        coordination: Coordination = SOLO,
        archive_dir: Path | None = None,
    ) -> None:
        self.store = store
        self.coordination = coordination
        self.archive_dir = archive_dir
        self.settings = settings
        self.identity = identity
        self._tls = tls
        self._http = http
        self._documents = documents
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
        self._archiving = asyncio.Lock()

    def use_identity(self, identity: SigningIdentity) -> None:
        """A reloaded signing identity: agreements, countersignatures and checkpoints are signed with it from now
        on (what was signed before keeps the certificate it carries)."""
        self.identity = identity
        self.signer.identity = identity

    # --- trust ----------------------------------------------------------------------------------------------

    def _anchors(self) -> list[x509.Certificate]:
        return list(self._tls.cas) if self._tls is not None else []

    def _any_revoked(self) -> bool:
        return self._tls is not None and any(self._tls.material.revoked.values())

    def _revoked(self, cert: x509.Certificate) -> bool:
        if self._tls is None:
            return False
        return cert.serial_number in self._tls.material.revoked.get(cert.issuer.public_bytes(), frozenset())

    def tsa_anchors(self) -> list[x509.Certificate]:
        return self._tsa_anchors or self._anchors()

    # --- writing --------------------------------------------------------------------------------------------

    def append(
        self,
        db: Tx,
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
        if subject is not None and subject_json is None:
            subject = withhold_secrets(subject)  # a data address's token never enters the log
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
        tx: Any,
        kind: str,
        *,
        process_id: str | None,
        peer: str | None,
        subject: Any = None,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """The `EvidenceSink` port the control plane's steps and the data plane append through."""
        self.append(tx, kind, process_id=process_id, peer=peer, subject=subject, data=data)

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
        return await self.store.run(
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
        except (ConnectorError, StoreError) as exc:
            log.error("refusal not logged: %s", exc)

    # --- checkpoints ----------------------------------------------------------------------------------------

    def _make_checkpoint(self, db: Tx, on_demand: bool) -> tuple[StoredCheckpoint | None, bool]:
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
        return StoredCheckpoint(checkpoint_id, head.count, head.hash, format_utc(at), jws), True

    async def checkpoint(self, on_demand: bool = False, timestamp: bool = True) -> dict[str, Any] | None:
        """Write a signed checkpoint if records were added since the last (on demand: if anything was added at
        all), then time-stamp it when a TSA is configured. Returns the checkpoint's description."""
        async with self._checkpointing:
            checkpoint, created = await self.store.run(self._make_checkpoint, on_demand)
            if checkpoint is None:
                return None
            if created:
                log.info("checkpoint written", extra={"checkpoint": checkpoint.id, "count": checkpoint.count})
            stamped = await self.store.read(tables.timestamps, checkpoint.id)
            if timestamp and not stamped:
                await self._timestamp(checkpoint)
            return await self.store.read(self._describe, checkpoint.id, created)

    def _describe(self, db: Tx, checkpoint_id: int, created: bool) -> dict[str, Any]:
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

    async def _timestamp(self, checkpoint: StoredCheckpoint) -> bool:
        url = self.settings.tsa_url
        if not url or self._http is None:
            return False
        from connector.evidence.edge.tsa_client import request_timestamp  # loaded with the first time-stamp

        try:
            stamp = await request_timestamp(
                self._http.public(), url, checkpoint_digest(checkpoint.jws), self.tsa_anchors(), self.clock()
            )
        except EvidenceError as exc:
            log.warning(
                "checkpoint not time-stamped: %s", exc.reason, extra={"code": exc.code, "checkpoint": checkpoint.id}
            )
            return False
        stored = StoredTimestamp(
            checkpoint.id, format_utc(stamp.gen_time), stamp.tsa_name, str(stamp.serial), stamp.token
        )

        def keep(db: Tx) -> None:
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

        await self.store.run(keep)
        return True

    async def _loop(self) -> None:
        interval = self.settings.checkpoint_interval
        while True:
            async with self.coordination.hold(CHECKPOINTS, announce=False) as held:
                while held and self.coordination.holds(CHECKPOINTS):  # (until it stops, or is taken for dead)
                    await asyncio.sleep(interval)
                    try:
                        await self.checkpoint()
                    except (ConnectorError, StoreError) as exc:
                        log.error("checkpoint failed: %s", exc)
            await asyncio.sleep(interval)  # another replica writes them: ask again later

    # --- export and check -----------------------------------------------------------------------------------

    async def export(self, agreement_id: str) -> dict[str, Any]:
        """The evidence bundle of one agreement, with a fresh checkpoint when none covers its records yet."""
        from connector.evidence.edge import export  # loaded with the first export

        store = self.store
        archived = await store.read(export.archived_part, agreement_id)
        if archived is not None:
            raise EvidenceError(
                "evidence.archived",
                f"records about agreement {agreement_id} were moved to the evidence archives (up to {archived}): "
                "its bundle cannot be made from the live log",
            )
        documents = await self._documents(agreement_id) if self._documents is not None else {}
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

    async def check(self) -> LogCheck:
        from connector.evidence.edge.log_check import check_log  # loaded with the first check

        return await self.store.read(
            check_log, self.identity.did, self._anchors(), self.tsa_anchors(), self.clock(), self.archive_dir
        )

    # --- archives -------------------------------------------------------------------------------------------

    async def archive(self, older_than: timedelta) -> dict[str, Any]:
        """Move the records up to the newest checkpoint at least `older_than` old (a fresh one for no age) to an
        archive file, time-stamping that checkpoint first when a TSA is configured; returns the archive's
        description."""
        folder = self.archive_dir
        if folder is None:
            raise ConnectorError("evidence.unavailable", "this node has no folder for evidence archives")
        async with self._archiving, self.coordination.hold(ARCHIVING, announce=False) as held:
            if not held:  # two archives of the same records would both be recorded: the chain broken for good
                raise ConnectorError(
                    "evidence.busy", "another replica of the node is making an evidence archive now; ask again later"
                )
            # The next archive goes beside the others: made where they are not (a replica on another machine whose
            # evidence.archive_dir is not the shared one), the node's archives would be split between folders.
            done = await self.store.read(tables.archives)
            absent = await asyncio.to_thread(archives.first_absent, folder, done)
            if absent is not None:
                raise ConnectorError(
                    "evidence.unavailable",
                    f"{archives.not_found(absent, folder)}; no further archive is made before it is there",
                    "evidence.archive_dir",
                    file=absent.file,
                    folder=str(folder),
                )
            if older_than <= timedelta(0):
                await self.checkpoint(on_demand=True)
            segment = await self.store.read(archives.next_segment, format_utc(self.clock() - older_than))
            if segment is None:
                raise ConnectorError(
                    "evidence.nothing_to_archive",
                    "no checkpoint old enough covers records that are not archived yet",
                    "olderThanDays",
                )
            stamped = await self.store.read(tables.timestamps, segment.anchor.id)
            if self.settings.tsa_url and not stamped and not await self._timestamp(segment.anchor):
                # Archived records are proven by that checkpoint alone: not without the trusted time it can have.
                raise ConnectorError(
                    "timestamp.unavailable",
                    "the checkpoint the archive would end at could not be time-stamped now; try again later",
                )
            data = await self.store.read(archives.gather, self.identity.did, segment)
            last = segment.anchor.count
            at = format_utc(self.clock())
            manifest = ArchiveManifest(
                self.identity.did, segment.first, last, segment.prev, segment.anchor.head, sha256_hex(data), at
            )
            jws = make_manifest(self.identity, manifest)
            name = f"evidence-{segment.first:012d}-{last:012d}.json.gz"
            await asyncio.to_thread(archives.write, folder, name, data, jws)  # (refused: nothing is recorded)
            stored = StoredArchive(
                0, segment.first, last, manifest.head, segment.anchor.id, name, manifest.sha256, at, jws
            )
            archive_id = await self.store.run(_record_archive, stored)
        log.info("evidence archived", extra={"archive": archive_id, "first": segment.first, "last": last})
        return {**self.describe_archive(stored), "id": archive_id, "path": str(folder / name)}

    @staticmethod
    def describe_archive(archive: StoredArchive) -> dict[str, Any]:
        return {
            "id": archive.id,
            "first": archive.first_seq,
            "last": archive.last_seq,
            "head": archive.head,
            "checkpoint": archive.checkpoint_id,
            "file": archive.file,
            "sha256": archive.sha256,
            "at": archive.at,
        }

    async def status(self) -> dict[str, Any]:
        def read(db: Tx) -> dict[str, Any]:
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

        return await self.store.read(read)

    # --- lifecycle ------------------------------------------------------------------------------------------

    async def open(self) -> None:
        """Read the chain's head (the journal may remember more than the head: the store tells it of undos)."""
        self.store.on_undo(self.journal.forget)
        self.store.at_write_begin(tables.HEAD, self.journal.follow)  # (replicas append to the chain too)
        self.journal.remember_processes()
        head = await self.store.run(self.journal.load)
        log.info(
            "evidence log open",
            extra={"records": head.count, "require_signatures": self.settings.require_signatures},
        )

    def run(self, tasks: Tasks) -> None:
        """Signed checkpoints every interval; the latest one time-stamped if it went without."""
        tasks.spawn(self._loop(), "evidence-checkpoints")
        if self.settings.tsa_url:
            tasks.spawn(self._stamp_latest(), "evidence-timestamp")

    async def close(self) -> None:
        try:
            await self.checkpoint(timestamp=False)  # stamped after the next start
        except (ConnectorError, StoreError) as exc:
            log.error("final checkpoint failed: %s", exc)

    async def _stamp_latest(self) -> None:
        """At start: time-stamp the latest checkpoint if it went without (e.g. the one written at shutdown)."""
        async with self.coordination.hold(CHECKPOINTS, announce=False) as held:
            if not held:
                return  # the replica writing the checkpoints stamps them
            latest = await self.store.read(tables.latest_checkpoint)
            if latest is not None and not await self.store.read(tables.timestamps, latest.id):
                await self._timestamp(latest)


def _record_archive(db: Tx, archive: StoredArchive) -> int:
    """Record `archive` and remove what it holds from the live log, if its records are still the next to archive
    (a replica taken for dead while it archived may find another one did meanwhile)."""
    if archives.archived_up_to(db)[0] != archive.first_seq:
        raise ConnectorError("evidence.busy", "these records were archived meanwhile (by another replica); ask again")
    return tables.remove_archived(db, archive)


def signing_identity(identity: NodeIdentity) -> SigningIdentity:
    return SigningIdentity(
        identity.participant_id, identity.signing_kid, identity.signing_key, identity.signing_cert, (identity.ca_cert,)
    )
