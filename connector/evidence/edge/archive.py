"""Archive files of the evidence log: what a closed segment of the chain held, written out so that its records can
leave the live store, and read back to verify the chain across archives.

An archive `evidence-<first>-<last>.json.gz` (gzipped JSON) holds the segment's records as stored, the subjects
they name, and the signed checkpoints up to its last record (the last of them, its anchor, commits to its final
hash and stays in the live store) with their RFC 3161 time-stamps. Beside it, `<file>.jws` is the node's signed
manifest (connector.evidence.archive): the segment's bounds, the hash before it and its final hash, and the
(compressed) file's SHA-256. The node keeps the same manifest in `evidence_archives`.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connector.canonical import sha256_hex
from connector.errors import ConnectorError, Problem
from connector.evidence.chain import GENESIS
from connector.keys import create_public_file, write_public_file
from connector.records.evidence import StoredArchive, StoredCheckpoint, StoredTimestamp
from connector.store.interface import Tx
from connector.store.sql import evidence as tables

TYPE = "connector-evidence-archive"
SIGNATURE_SUFFIX = ".jws"
MAX_RECORDS = 200_000  # per archive, where the checkpoints allow: an archive is put together in memory


@dataclass(frozen=True)
class Segment:
    """The next segment to archive: records `first`..`anchor.count`, after the hash `prev`."""

    first: int
    prev: str
    anchor: StoredCheckpoint


def archived_up_to(db: Tx) -> tuple[int, str]:
    """The first record the next archive holds, and the hash before it."""
    done = tables.archives(db)
    return (done[-1].last_seq + 1, done[-1].head) if done else (1, GENESIS)


def next_segment(db: Tx, cutoff: str, most: int = MAX_RECORDS) -> Segment | None:
    """From the record after the last archive up to the newest checkpoint made at or before `cutoff` (an RFC 3339
    UTC time, compared as text: the node writes them all alike) that some live record follows, within `most`
    records if a checkpoint allows (an archive is made in memory; the next one takes the rest)."""
    first, prev = archived_up_to(db)
    head = tables.head(db).count
    eligible = [c for c in tables.checkpoints(db) if first <= c.count < head and c.at <= cutoff]
    if not eligible:
        return None
    within = [c for c in eligible if c.count - first < most]
    chosen = max(within, key=lambda c: c.count) if within else min(eligible, key=lambda c: c.count)
    return Segment(first, prev, chosen)


def _checkpoint_json(checkpoint: StoredCheckpoint, stamps: list[StoredTimestamp]) -> dict[str, Any]:
    return {
        "id": checkpoint.id,
        "count": checkpoint.count,
        "head": checkpoint.head,
        "at": checkpoint.at,
        "jws": checkpoint.jws,
        "timestamps": [
            {"genTime": s.gen_time, "tsa": s.tsa, "serial": s.serial, "token": base64.b64encode(s.token).decode()}
            for s in stamps
        ],
    }


def gather(db: Tx, node: str, segment: Segment) -> bytes:
    """The archive file's bytes for `segment`."""
    last = segment.anchor.count
    records = list(tables.record_rows(db, segment.first, last))
    wanted = sorted({r["subject_sha256"] for r in records if r["subject_sha256"]})
    stamps: dict[int, list[StoredTimestamp]] = {}
    for stamp in tables.timestamps(db):
        stamps.setdefault(stamp.checkpoint_id, []).append(stamp)
    checkpoints = [
        _checkpoint_json(c, stamps.get(c.id, []))
        for c in tables.checkpoints(db)
        if c.count <= last and (c.count >= segment.first or c.id == segment.anchor.id)
    ]
    document = {
        "type": TYPE,
        "node": node,
        "first": segment.first,
        "last": last,
        "prev": segment.prev,
        "head": segment.anchor.head,
        "checkpoints": checkpoints,
        "records": records,
        "subjects": tables.subjects(db, wanted),
    }
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    import gzip  # with the first archive written or read

    return gzip.compress(text, compresslevel=6, mtime=0)  # no time in the header: the same segment, the same bytes


def write(folder: Path, name: str, data: bytes, manifest: str) -> list[Path]:
    """Write the archive and its signed manifest, each complete on disk before it has its name; returns the files
    it created. A file never replaces another archive: the same bytes under the name are the same archive (an
    attempt that ended before the store recorded it), whose manifest is written again; anything else there belongs
    to another history of the log (a store restored from a backup older than that archive), and is refused
    (`evidence.archive_conflict`). A folder that cannot take the files is `evidence.archive_unwritable`. Either way
    nothing is left behind of this attempt, and the caller removes no record."""
    archive, signature = folder / name, folder / (name + SIGNATURE_SUFFIX)
    signed = manifest.encode("ascii")
    created: list[Path] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if _holds(archive, data):
            write_public_file(signature, signed)
            return created
        for path, content in ((archive, data), (signature, signed)):
            try:
                create_public_file(path, content)
            except FileExistsError:
                raise ConnectorError(
                    "evidence.archive_conflict",
                    f"{path} is there already, and is not the evidence archive being written: it belongs to another "
                    "history of the log (was the store restored from a backup older than it?). Nothing was "
                    f"archived. Keep it: move the files named {name}* out of {folder} (with the store that records "
                    "them), then archive again",
                    str(path),
                ) from None
            created.append(path)
    except BaseException as exc:
        for path in created:
            path.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            cause = (
                "it is a file, not a folder" if folder.exists() and not folder.is_dir() else exc.strerror or str(exc)
            )
            raise ConnectorError(
                "evidence.archive_unwritable",
                f"the evidence archive cannot be written in {folder} (evidence.archive_dir): {cause}. Nothing was "
                "archived and the live log keeps every record; make that folder writable (or free space on its "
                "disk), then archive again",
                "evidence.archive_dir",
                folder=str(folder),
                cause=cause,
            ) from None
        raise
    return created


def _holds(path: Path, data: bytes) -> bool:
    """Whether `path` is a file holding exactly `data`."""
    try:
        return path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data
    except OSError:
        return False


def first_absent(folder: Path, done: list[StoredArchive]) -> StoredArchive | None:
    """The first of the archives the store records whose file is not in `folder` (None when all are)."""
    return next((archive for archive in done if not (folder / archive.file).is_file()), None)


@dataclass(frozen=True)
class Loaded:
    """An archive file read back: its document, or why it cannot be used."""

    document: dict[str, Any] | None
    problem: Problem | None  # (its `where` is left to the caller)


def not_found(archive: StoredArchive, folder: Path) -> str:
    """Why the file of `archive`, which the store records, is not in `folder`, and what to do about it."""
    return (
        f"the store records the archive of records {_span(archive)}, but its file {archive.file} is not in "
        f"{folder} (evidence.archive_dir): replicas of the node on several machines must all name one shared "
        "folder there, and a store restored from a backup needs its archive files restored with it"
    )


def load(folder: Path | None, archive: StoredArchive) -> Loaded:
    """Read the file of `archive` and hold it against what the store recorded of it (its hash, its bounds)."""
    if folder is None:
        reason = f"the archive of records {_span(archive)} ({archive.file}) cannot be read: no folder was given"
        return Loaded(None, Problem("archive.missing", reason, details={"file": archive.file}))
    if not (folder / archive.file).is_file():
        details = {"file": archive.file, "folder": str(folder)}
        return Loaded(None, Problem("archive.missing", not_found(archive, folder), details=details))
    try:
        data = (folder / archive.file).read_bytes()
    except OSError as exc:
        reason = f"the file {archive.file} of the archive of records {_span(archive)} in {folder} cannot be read: {exc}"
        return Loaded(None, Problem("archive.missing", reason, details={"file": archive.file, "folder": str(folder)}))
    if sha256_hex(data) != archive.sha256:
        return _problem("archive.altered", f"the archive of records {_span(archive)} is not the one written")
    import gzip

    try:
        document = json.loads(gzip.decompress(data))
    except (OSError, EOFError, ValueError):
        return _problem("archive.malformed", f"the archive of records {_span(archive)} is not gzipped JSON")
    bounds = (archive.first_seq, archive.last_seq, archive.head)
    if not isinstance(document, dict) or document.get("type") != TYPE:
        return _problem("archive.malformed", f"{archive.file} is not an evidence archive")
    if (document.get("first"), document.get("last"), document.get("head")) != bounds:
        return _problem("archive.malformed", f"{archive.file} names other records than its manifest")
    return Loaded(document, None)


def _problem(code: str, reason: str) -> Loaded:
    return Loaded(None, Problem(code, reason))


def checkpoints_of(document: dict[str, Any]) -> tuple[list[StoredCheckpoint], list[StoredTimestamp]]:
    """The checkpoints an archive carries and their time-stamps, as the store held them."""
    checkpoints, stamps = [], []
    for c in document.get("checkpoints") or []:
        checkpoints.append(StoredCheckpoint.from_row(c))
        for s in c.get("timestamps") or []:
            token = base64.b64decode(s["token"])
            stamps.append(StoredTimestamp(int(c["id"]), str(s["genTime"]), str(s["tsa"]), str(s["serial"]), token))
    return checkpoints, stamps


def _span(archive: StoredArchive) -> str:
    return f"{archive.first_seq}-{archive.last_seq}"
