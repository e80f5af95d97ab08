"""Checking a node's whole evidence log where it is stored, and naming the first broken link.

The node's code never changes a stored row, and the tables refuse UPDATE and DELETE; what this finds is change
made behind the node's back (triggers dropped, the file edited). It re-hashes every record in order, holds each
signed checkpoint against the chain (a checkpoint fixes the head, so records removed from the end or a log
rewritten wholesale are found too), verifies every time-stamp over its checkpoint, every kept subject against
its hash, and every kept agreement signature against the hash its chain record holds.

Records moved to archive files (`connector evidence archive`) are checked in those files, in order, as if they
were still in the store: each archive's signed manifest against what the store recorded of it, the file against
its hash, its records as the chain's segment before the next, its checkpoints and time-stamps with the rest. An
archive that is missing or altered is a break in the chain.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from connector.canonical import sha256_hex
from connector.errors import ConnectorError, Problem
from connector.evidence.archive import verify_manifest
from connector.evidence.chain import ALTERED, GENESIS, ChainHead, missing_before, verify_chain
from connector.evidence.checkpoint import checkpoint_digest, checkpoint_sha256, verify_checkpoint
from connector.evidence.edge.archive import checkpoints_of, load
from connector.evidence.intent import signature_sha256
from connector.evidence.rfc3339 import parse_utc
from connector.records.evidence import INVALID, StoredArchive, StoredCheckpoint, StoredTimestamp
from connector.store.interface import Tx
from connector.store.sql import evidence as tables

CHECKPOINT_KIND = "checkpoint"
BATCH = 2000


@dataclass
class LogCheck:
    records: int = 0  # records verified before the first break (all of them when intact)
    head: ChainHead = field(default_factory=lambda: ChainHead(0, GENESIS))
    checkpoints: int = 0
    timestamps: int = 0
    subjects: int = 0
    signatures: int = 0
    archives: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_break(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def to_json(self) -> dict[str, Any]:
        def problem(p: Problem) -> dict[str, Any]:
            extra = {"details": p.details} if p.details else {}
            return {"code": p.code, "reason": p.reason, "where": p.where, **extra}

        return {
            "ok": self.ok,
            "records": self.records,
            "head": {"count": self.head.count, "hash": self.head.hash},
            "checkpoints": self.checkpoints,
            "timestamps": self.timestamps,
            "subjects": self.subjects,
            "signatures": self.signatures,
            "archives": self.archives,
            "firstBreak": problem(self.problems[0]) if self.problems else None,
            "problems": [problem(p) for p in self.problems],
        }


def check_log(
    db: Tx,
    node: str,
    anchors: Sequence[x509.Certificate],
    tsa_anchors: Sequence[x509.Certificate],
    now: datetime,
    archive_dir: Path | None = None,
) -> LogCheck:
    """Verify the stored log of `node` (read-only), with the archives in `archive_dir` its older records were moved
    to; every problem found is listed, the chain's first break first."""
    result = LogCheck()
    stored = {c.id: c for c in tables.checkpoints(db)}
    stamps = {(s.checkpoint_id, s.serial, s.tsa): s for s in tables.timestamps(db)}
    at_count: dict[int, str] = {0: GENESIS}
    announced: set[str] = set()
    logged_signatures: set[tuple[Any, Any, str]] = set()  # (agreement, role, signature hash) as logged
    wanted: set[int] = set()

    prev, expected = GENESIS, 1
    batch: list[dict[str, Any]] = []
    unheld: list[Problem] = []  # records whose subject is kept nowhere (listed after the chain's own problems)
    held: Callable[[list[str]], set[str]] = _in_store(db)  # where the subjects of the records being followed are

    def flush() -> bool:
        nonlocal prev, expected
        if not batch:
            return True
        report = verify_chain(batch, prev, start_seq=expected)
        broken = report.first_break
        if broken is not None and broken.kind == ALTERED and isinstance(batch[broken.position]["seq"], int):
            # The store keeps a record's `prev` as the hash of the record before it: a record after removed ones
            # cannot match its hash, and what broke first is the removal.
            seq = batch[broken.position]["seq"]
            if seq > report.head.count + 1:
                report = replace(report, first_break=missing_before(report.head.count + 1, seq, broken.position))
        for row in batch[: report.verified]:
            seq = row["seq"]
            if seq in wanted:
                at_count[seq] = row["hash"]
            data = row["data"] if isinstance(row["data"], dict) else {}
            if row["kind"] == CHECKPOINT_KIND and isinstance(data.get("checkpoint_sha256"), str):
                announced.add(data["checkpoint_sha256"])
            if isinstance(data.get("signature_sha256"), str):
                logged_signatures.add((data.get("agreement"), data.get("role"), data["signature_sha256"]))
        named = {
            str(row["subject_sha256"]): row["seq"] for row in batch[: report.verified] if row.get("subject_sha256")
        }
        if named:
            for sha in sorted(set(named) - held(list(named)), key=named.__getitem__):
                unheld.append(
                    Problem(
                        "subject.missing",
                        f"record {named[sha]} names a subject ({sha[:16]}...) that is kept neither in the store nor "
                        "in the archive of its records",
                        f"record {named[sha]}",
                    )
                )
        result.records += report.verified
        result.head = report.head
        prev, expected = report.head.hash, report.head.count + 1
        batch.clear()
        if report.problem is not None:
            result.problems.append(report.problem)
            return False
        return True

    def follow(rows: Any) -> bool:
        for row in rows:
            batch.append(row)
            if len(batch) >= BATCH and not flush():
                return False
        return flush()

    intact = True
    for archive in tables.archives(db):
        result.archives += 1
        document = _archive(result, archive, prev, node, anchors, now, archive_dir)
        if document is None:
            intact = False
            break
        carried, carried_stamps = checkpoints_of(document)
        for checkpoint in carried:
            stored.setdefault(checkpoint.id, checkpoint)
        for stamp in carried_stamps:
            stamps.setdefault((stamp.checkpoint_id, stamp.serial, stamp.tsa), stamp)
        wanted = {c.count for c in stored.values()}
        _check_subjects(result, (document.get("subjects") or {}).items())
        held = _in_archive(document)
        if not (intact := follow(document.get("records") or [])):
            break
        if result.head != ChainHead(archive.last_seq, archive.head):
            result.problems.append(
                Problem(
                    "archive.incomplete",
                    f"the archive of records {archive.first_seq}-{archive.last_seq} ends at seq {result.head.count}",
                    f"archive {archive.id}",
                )
            )
            intact = False
            break
    wanted = {c.count for c in stored.values()}
    if intact:
        held = _in_store(db)
        intact = follow(tables.record_rows(db, expected, batch=BATCH))

    _check_checkpoints(
        result,
        sorted(stored.values(), key=lambda c: c.id),
        list(stamps.values()),
        at_count,
        announced,
        node,
        anchors,
        tsa_anchors,
        now,
        intact,
    )
    result.problems.extend(unheld)
    _check_subjects(result, tables.subject_rows(db))
    for signature in tables.signature_rows(db):
        result.signatures += 1
        logged = (signature.agreement_id, signature.role, signature_sha256(signature.jws or ""))
        if signature.jws is not None and signature.status != INVALID and logged not in logged_signatures and intact:
            result.problems.append(
                Problem(
                    "signature.unlogged",
                    f"the kept {signature.role} signature of agreement {signature.agreement_id} is "
                    "not the one the log recorded: it was changed in the store",
                    f"agreement {signature.agreement_id}",
                )
            )
    return result


def _in_store(db: Tx) -> Callable[[list[str]], set[str]]:
    return lambda hashes: tables.subjects_held(db, hashes)


def _in_archive(document: dict[str, Any]) -> Callable[[list[str]], set[str]]:
    carried = document.get("subjects")
    kept = carried if isinstance(carried, dict) else {}
    return lambda hashes: {sha for sha in hashes if sha in kept}


def _check_subjects(result: LogCheck, subjects: Any) -> None:
    for sha, body in subjects:
        result.subjects += 1
        if not isinstance(body, str) or sha256_hex(body.encode("utf-8", "surrogatepass")) != sha:
            result.problems.append(
                Problem(
                    "subject.altered",
                    f"the kept subject {str(sha)[:16]}... no longer matches its hash: it was changed in the store",
                    f"subject {sha}",
                )
            )


def _archive(
    result: LogCheck,
    archive: StoredArchive,
    prev: str,
    node: str,
    anchors: Sequence[x509.Certificate],
    now: datetime,
    folder: Path | None,
) -> dict[str, Any] | None:
    """The document of `archive` when its manifest verifies, says what the store recorded and follows `prev`, and
    its file is the one written; None (with the problem listed) otherwise."""
    where = f"archive {archive.id}"
    span = f"{archive.first_seq}-{archive.last_seq}"
    try:
        manifest = verify_manifest(archive.jws, anchors, min(parse_utc(archive.at), now), expected_node=node)
    except ConnectorError as exc:
        result.problems.append(Problem(exc.code, f"the archive of records {span} does not verify: {exc.reason}", where))
        return None
    signed = (manifest.first, manifest.last, manifest.head, manifest.sha256, manifest.at)
    if signed != (archive.first_seq, archive.last_seq, archive.head, archive.sha256, archive.at):
        reason = f"the stored bounds, head, hash or time of the archive of records {span} differ from what it signed"
        result.problems.append(Problem("archive.row_altered", reason, where))
        return None
    if manifest.prev != prev or manifest.first != result.head.count + 1:
        reason = f"the archive of records {span} does not continue the chain where the archive before it ended"
        result.problems.append(Problem("archive.gap", reason, where))
        return None
    loaded = load(folder, archive)
    if loaded.problem is not None:
        result.problems.append(replace(loaded.problem, where=where))
        return None
    assert loaded.document is not None
    try:
        checkpoints_of(loaded.document)
    except (KeyError, TypeError, ValueError):
        reason = f"the checkpoints in the archive of records {span} cannot be read"
        result.problems.append(Problem("archive.malformed", reason, where))
        return None
    return loaded.document


def _check_checkpoints(
    result: LogCheck,
    stored: list[StoredCheckpoint],
    stamps: list[StoredTimestamp],
    at_count: dict[int, str],
    announced: set[str],
    node: str,
    anchors: Sequence[x509.Certificate],
    tsa_anchors: Sequence[x509.Certificate],
    now: datetime,
    intact: bool,
) -> None:
    previous = 0
    for checkpoint in stored:
        result.checkpoints += 1
        where = f"checkpoint {checkpoint.id}"
        try:
            at = parse_utc(checkpoint.at)
            verified = verify_checkpoint(checkpoint.jws, anchors, min(at, now), expected_node=node)
        except ConnectorError as exc:
            reason = f"checkpoint {checkpoint.id} does not verify: {exc.reason}"
            result.problems.append(Problem(exc.code, reason, where))
            continue
        if (verified.count, verified.head, verified.at) != (checkpoint.count, checkpoint.head, checkpoint.at):
            result.problems.append(
                Problem(
                    "checkpoint.row_altered",
                    f"checkpoint {checkpoint.id}'s stored count, head or time differs from what it signed",
                    where,
                )
            )
        if verified.count < previous:
            result.problems.append(
                Problem(
                    "checkpoint.order",
                    f"checkpoint {checkpoint.id} commits to fewer records than the one before it",
                    where,
                )
            )
        previous = max(previous, verified.count)
        if not intact:
            continue  # past the first break the chain's hashes prove nothing either way
        if verified.count > result.head.count:
            result.problems.append(
                Problem(
                    "chain.truncated",
                    f"checkpoint {checkpoint.id} committed to {verified.count} records but the log "
                    f"ends at seq {result.head.count}: records were removed",
                    where,
                )
            )
        elif at_count.get(verified.count) != verified.head:
            result.problems.append(
                Problem(
                    "chain.diverged",
                    f"record seq {verified.count} differs from what checkpoint {checkpoint.id} "
                    "committed to: the log was rewritten",
                    where,
                )
            )
        elif checkpoint_sha256(checkpoint.jws) not in announced and verified.count < result.head.count:
            result.problems.append(
                Problem(
                    "checkpoint.unannounced",
                    f"checkpoint {checkpoint.id} is not the one the "
                    "log announced after it: it was replaced in the store",
                    where,
                )
            )
    by_id = {c.id: c for c in stored}
    if stamps:  # the ASN.1 library loads only for a log that has time-stamps
        from connector.evidence.timestamp import verify_response
    for stamp in stamps:
        result.timestamps += 1
        stamped = by_id.get(stamp.checkpoint_id)
        where = f"checkpoint {stamp.checkpoint_id}"
        if stamped is None:
            result.problems.append(Problem("timestamp.orphan", "a time-stamp belongs to no stored checkpoint", where))
            continue
        try:
            verify_response(stamp.token, checkpoint_digest(stamped.jws), None, tsa_anchors, now)
        except ConnectorError as exc:
            result.problems.append(
                Problem(exc.code, f"the time-stamp of checkpoint {stamped.id} does not verify: {exc.reason}", where)
            )
