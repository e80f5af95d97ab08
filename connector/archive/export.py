"""Writing a node's archive from one read transaction of its store (a consistent snapshot, also of a running
node's store), signed with the node's signing key."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from connector import __version__
from connector.archive.format import (
    ARCHIVED_FILES,
    MANIFEST,
    PARTS,
    SIGNATURE,
    FileEntry,
    Manifest,
    Part,
    row_line,
    sign_manifest,
)
from connector.canonical import sha256_hex
from connector.errors import ConnectorError, not_written
from connector.evidence.edge.archive import not_found
from connector.evidence.signer import SigningIdentity
from connector.records.content import is_compact
from connector.records.evidence import StoredArchive
from connector.store.copy import schema_version, table_rows
from connector.store.interface import Tx
from connector.store.sql import evidence as tables
from connector.store.sql.content import column_text


@dataclass
class _Writer:
    """One file of the archive being written: its hash and rows counted as it goes."""

    stream: IO[bytes]
    digest: Any = field(default_factory=hashlib.sha256)
    rows: int = 0

    def line(self, data: bytes) -> None:
        data += b"\n"
        self.digest.update(data)
        self.stream.write(data)
        self.rows += 1


def _evidence_rows(tx: Tx, part: Part) -> Iterator[Mapping[str, Any]]:
    """The evidence tables, read through the evidence statements (records in chain order)."""
    if part.table == tables.RECORDS:
        yield from tables.record_rows(tx, 1)
    elif part.table == tables.ARCHIVES:
        for archived in tables.archives(tx):
            yield dataclasses.asdict(archived)
    elif part.table == tables.SUBJECTS:
        for sha, body in tables.subject_rows(tx):
            if sha256_hex(str(body).encode("utf-8", "surrogatepass")) != sha:
                raise ConnectorError(
                    "archive.evidence",
                    f"the kept subject {sha[:16]}... no longer matches its hash; run 'connector evidence check'",
                )
            yield {"sha256": sha, "body": body}
    else:  # checkpoints, time-stamps and signatures: their records are named as the columns are
        readers: dict[str, Callable[[Tx], Sequence[Any]]] = {
            tables.CHECKPOINTS: tables.checkpoints,
            tables.TIMESTAMPS: tables.timestamps,
            tables.SIGNATURES: tables.signature_rows,
        }
        for item in readers[str(part.table)](tx):
            yield dataclasses.asdict(item)


EVIDENCE_TABLES = {
    tables.ARCHIVES,
    tables.RECORDS,
    tables.SUBJECTS,
    tables.CHECKPOINTS,
    tables.TIMESTAMPS,
    tables.SIGNATURES,
}


def counterparties(tx: Tx) -> list[dict[str, Any]]:
    """Who the node dealt with: each participant its negotiations name, their addresses and roles."""
    found: dict[str, dict[str, Any]] = {}
    for row in tx.query(
        "SELECT peer_id, peer_address, role, created_at, updated_at FROM negotiations ORDER BY created_at, id"
    ):
        entry = found.setdefault(
            row["peer_id"],
            {
                "participant_id": row["peer_id"],
                "addresses": [],
                "roles": [],
                "negotiations": 0,
                "agreements": 0,
                "first_seen": row["created_at"],
                "last_seen": row["updated_at"],
            },
        )
        their_role = "consumer" if row["role"] == "provider" else "provider"
        if row["peer_address"] not in entry["addresses"]:
            entry["addresses"].append(row["peer_address"])
        if their_role not in entry["roles"]:
            entry["roles"].append(their_role)
        entry["negotiations"] += 1
        entry["last_seen"] = max(entry["last_seen"], row["updated_at"])
    for row in tx.query("SELECT provider_id, consumer_id FROM agreements"):
        for did in (row["provider_id"], row["consumer_id"]):
            if did in found:
                found[did]["agreements"] += 1
    return sorted(found.values(), key=lambda e: str(e["participant_id"]))


def _rows(tx: Tx, part: Part) -> Iterable[Mapping[str, Any]]:
    if part.table is None:
        return counterparties(tx)
    if part.table in EVIDENCE_TABLES:
        return _evidence_rows(tx, part)
    return _full_texts(tx, part, table_rows(tx, part.table, part.key))


def _full_texts(tx: Tx, part: Part, rows: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """Rows with each JSON column as its whole text: the store may keep a large value as a compact row whose parts
    it holds once by hash (connector.store.sql.content); the archive is read without the store."""
    for row in rows:
        if any(isinstance(row.get(c), str) and is_compact(row[c]) for c in part.json):
            row = {**row, **{c: column_text(tx, row[c]) for c in part.json if isinstance(row.get(c), str)}}
        yield row


@dataclass(frozen=True)
class Exported:
    manifest: Manifest
    path: Path
    size: int


def _add_evidence_archives(archive: zipfile.ZipFile, archived: Sequence[StoredArchive], folder: Path) -> None:
    """Each evidence archive file the store records, as it is in `folder` (the node's evidence archive folder,
    evidence.archive_dir), once it is the one the store recorded."""
    for entry in archived:
        path = folder / entry.file
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ConnectorError(
                "archive.evidence", f"{not_found(entry, folder)}; the node's archive must hold it, as its log goes on"
            ) from None
        except OSError as exc:
            raise ConnectorError("archive.evidence", f"the evidence archive {path} cannot be read: {exc}") from None
        if sha256_hex(data) != entry.sha256:
            raise ConnectorError(
                "archive.evidence",
                f"{path} is not the evidence archive the store recorded; run 'connector evidence check'",
            )
        archive.writestr(zipfile.ZipInfo(ARCHIVED_FILES + entry.file, (1980, 1, 1, 0, 0, 0)), data)


def write_archive(tx: Tx, out: Path, signer: SigningIdentity, now: datetime, evidence_archives: Path) -> Exported:
    """Write the archive of the store `tx` reads into `out` (published whole, or not at all); `evidence_archives`
    is the folder of the node's evidence archive files, which the archive carries too."""
    part_file = out.with_name(out.name + ".part")
    entries: list[FileEntry] = []
    head = tables.head(tx)
    archived = tables.archives(tx)
    live_from = archived[-1].last_seq if archived else 0
    try:
        with zipfile.ZipFile(part_file, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for part in PARTS:
                with archive.open(part.path, "w", force_zip64=True) as stream:
                    writer = _Writer(stream)
                    for row in _rows(tx, part):
                        writer.line(row_line(part, row))
                entries.append(FileEntry(part.path, writer.rows, writer.digest.hexdigest()))
            records = next(e.rows for e in entries if e.path == "evidence/records.jsonl")
            if records != head.count - live_from:
                raise ConnectorError("archive.evidence", "the evidence log changed while it was read; export again")
            _add_evidence_archives(archive, archived, evidence_archives)
            manifest = Manifest(
                node=signer.did,
                created_at=now,
                schema_version=schema_version(tx),
                program=f"connector {__version__}",
                files=tuple(entries),
                records=head.count,
                head=head.hash,
                checkpoints=next(e.rows for e in entries if e.path == "evidence/checkpoints.jsonl"),
            )
            archive.writestr(MANIFEST, manifest.to_bytes())
            archive.writestr(SIGNATURE, sign_manifest(manifest, signer) + "\n")
        os.replace(part_file, out)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            part_file.unlink()
        if isinstance(exc, OSError):  # reading fails as a ConnectorError: this is the archive's own file system
            raise not_written(exc, out, "export", "--out") from None
        raise
    return Exported(manifest, out, out.stat().st_size)


__all__ = ["Exported", "counterparties", "write_archive"]
