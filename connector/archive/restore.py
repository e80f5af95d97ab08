"""Reading an archive and restoring it into an empty store, in one transaction the caller commits only once the
restored evidence log verifies.

Every check that can fail is made before the COMMIT: the manifest's signature (by the node it names, chaining to
the trust anchors given), every file's SHA-256 and row count against the manifest, nothing in the archive that the
manifest does not list, each evidence record in canonical form and linked to the one before it (the store's own
chain trigger refuses any other), each subject hashing to its key; the caller then checks the whole log
(connector.evidence.edge.log_check: checkpoints signed, time-stamps, subjects, signatures as logged).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from connector.archive.entries import read_small, reading, sha256_of
from connector.archive.format import (
    ARCHIVED_FILES,
    MANIFEST,
    MAX_LINE,
    PARTS,
    SIGNATURE,
    FileEntry,
    Manifest,
    Part,
    line_row,
    verify_manifest,
)
from connector.canonical import canonical_bytes, sha256_hex
from connector.errors import ConnectorError
from connector.evidence.chain import Record
from connector.evidence.edge.archive import write as write_evidence_archive
from connector.evidence.errors import EvidenceError
from connector.records.evidence import StoredArchive, StoredSignature, StoredTimestamp
from connector.store.copy import keep_counting
from connector.store.errors import StoreConflict, StoreError
from connector.store.interface import Tx
from connector.store.migrations import MIGRATIONS
from connector.store.sql import evidence as tables

RESTORED = tuple(part for part in PARTS if part.table is not None)


@dataclass(frozen=True)
class Opened:
    manifest: Manifest
    archive: zipfile.ZipFile


@contextlib.contextmanager
def open_archive(path: Path, anchors: Sequence[x509.Certificate]) -> Iterator[Opened]:
    """The archive at `path`, its manifest's signature verified and its contents those the manifest lists."""
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise ConnectorError("cli.missing_file", f"no archive at {path}", "FILE") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise ConnectorError("archive.malformed", f"{path} is not an archive ({exc})", "FILE") from None
    with archive:
        names = archive.namelist()
        if len(set(names)) != len(names):
            raise ConnectorError("archive.malformed", "the archive holds a file twice")
        for needed in (MANIFEST, SIGNATURE):
            if needed not in names:
                raise ConnectorError("archive.malformed", f"the archive has no {needed}", needed)
        raw = read_small(archive, MANIFEST)
        jws = read_small(archive, SIGNATURE).decode("ascii", "replace")
        manifest = verify_manifest(raw, jws, anchors)
        listed = {f.path for f in manifest.files}
        # The evidence archive files are held against the rows of evidence/archives.jsonl as they are restored.
        extra = sorted(n for n in set(names) - listed - {MANIFEST, SIGNATURE} if not n.startswith(ARCHIVED_FILES))
        if extra:
            raise ConnectorError("archive.altered", f"the archive holds files its manifest does not list: {extra}")
        required = [p.path for p in RESTORED if p.path not in listed and not p.optional]
        missing = sorted(listed - set(names)) + sorted(required)
        if missing:
            raise ConnectorError("archive.altered", f"files are missing from the archive: {missing}")
        known = MIGRATIONS[-1].version
        if manifest.schema_version > known:
            raise ConnectorError(
                "archive.version",
                f"the archive was made by a newer program (schema version {manifest.schema_version}, this program "
                f"{known}); use that version or a newer one",
            )
        yield Opened(manifest, archive)


def _lines(archive: zipfile.ZipFile, entry: FileEntry) -> Iterator[tuple[int, bytes]]:
    """The lines of one file, numbered from 1; its hash and count are held against the manifest at its end (a line
    past the count it lists, at once)."""
    digest = hashlib.sha256()
    count = 0
    with reading(entry.path), archive.open(entry.path) as stream:
        while True:
            line = stream.readline(MAX_LINE + 1)
            if not line:
                break
            digest.update(line)
            if not line.endswith(b"\n") or len(line) > MAX_LINE:
                raise ConnectorError("archive.malformed", f"{entry.path} line {count + 1} is cut or too long")
            count += 1
            if count > entry.rows:
                break
            yield count, line[:-1]
    if digest.hexdigest() != entry.sha256 or count != entry.rows:
        raise ConnectorError(
            "archive.altered",
            f"{entry.path} is not the file the archive's signed manifest lists (its SHA-256 or its row count differ)",
            entry.path,
        )


def _insert(tx: Tx, table: str, row: dict[str, Any]) -> None:
    columns = list(row)
    tx.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
        [row[c] for c in columns],
    )


def _restore_line(tx: Tx, part: Part, line: bytes, where: str) -> None:
    if part.table == tables.RECORDS:
        try:
            record = Record.from_line(line)
        except EvidenceError as exc:
            raise ConnectorError("archive.evidence", f"{where}: {exc.reason}", where) from None
        tables.insert_record(tx, record)  # the store's chain trigger refuses a record that does not follow
        return
    if part.table == tables.SUBJECTS:
        value = json.loads(line)
        body = canonical_bytes(value.get("body"))
        if sha256_hex(body) != value.get("sha256"):
            raise ConnectorError("archive.evidence", f"{where}: the subject does not hash to its key", where)
        tables.insert_subject(tx, value["sha256"], body)
        return
    row = line_row(part, line, where)
    if part.table == tables.TIMESTAMPS:
        tables.insert_timestamp(tx, StoredTimestamp.from_row(row))
    elif part.table == tables.SIGNATURES:
        tables.put_signature(tx, StoredSignature.from_row(row))
    else:
        assert part.table is not None
        _insert(tx, part.table, row)


def occupied(tx: Tx) -> dict[str, int]:
    """The tables an archive restores that already hold rows, with their counts."""
    counts = {p.table: int(tx.execute(f"SELECT count(*) FROM {p.table}").fetchone()[0]) for p in RESTORED}
    return {str(table): count for table, count in counts.items() if count}


def restore(
    tx: Tx, opened: Opened, evidence_archives: Path | None = None, written: list[Path] | None = None
) -> dict[str, int]:
    """Insert every row of the archive into the empty store `tx`; rows restored per file. The evidence archive
    files it carries are put in `evidence_archives` (the node's folder for them), each once it is the one its row
    names; `written` gets the paths of the files this wrote (for the caller to remove if it does not commit)."""
    taken = occupied(tx)
    if taken:
        listed = ", ".join(f"{table} ({count})" for table, count in taken.items())
        raise ConnectorError(
            "store.not_empty",
            f"the node's store already holds rows: {listed}; an archive is restored only into an "
            "empty store (a fresh node)",
        )
    restored: dict[str, int] = {}
    entries = {f.path: f for f in opened.manifest.files}
    for part in RESTORED:
        if part.path not in entries:  # an optional file, from an archive written before it existed
            continue
        entry = entries[part.path]
        where = part.path
        try:
            with tx.savepoint():
                for number, line in _lines(opened.archive, entry):
                    where = f"{part.path} line {number}"
                    _restore_line(tx, part, line, where)
        except StoreConflict as exc:
            if part.table == tables.RECORDS:
                reason = f"{where}: the record does not follow the one before it: the evidence chain is broken"
                raise ConnectorError("archive.evidence", reason, where) from None
            raise ConnectorError("archive.malformed", f"{where} does not fit the store: {exc}", where) from None
        except StoreError as exc:
            raise ConnectorError("archive.malformed", f"{where} does not fit the store: {exc}", where) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise ConnectorError("archive.malformed", f"{where} is not a row of {part.table}: {exc}", where) from None
        except RecursionError:  # the JSON parser's own bound, before it runs out of stack
            reason = f"{where} nests arrays and objects too deeply to be a row of {part.table}"
            raise ConnectorError("archive.malformed", reason, where) from None
        restored[part.path] = entry.rows
    keep_counting(tx, tables.CHECKPOINTS, "id")
    keep_counting(tx, tables.ARCHIVES, "id")
    _put_evidence_archives(opened.archive, tables.archives(tx), evidence_archives, written)
    return restored


def _put_evidence_archives(
    archive: zipfile.ZipFile,
    archived: Sequence[StoredArchive],
    folder: Path | None,
    written: list[Path] | None,
) -> None:
    """Each evidence archive file into `folder`, with its signed manifest beside it, once it is the file its row
    names (its SHA-256); the archive must hold those files and no other."""
    held = {n[len(ARCHIVED_FILES) :] for n in archive.namelist() if n.startswith(ARCHIVED_FILES)}
    named = {entry.file for entry in archived}
    if held != named:
        raise ConnectorError(
            "archive.altered",
            f"the evidence archive files are not those evidence/archives.jsonl names (missing: "
            f"{sorted(named - held)}, not named: {sorted(held - named)})",
        )
    if not archived:
        return
    if folder is None:
        raise ConnectorError(
            "archive.evidence", "the archive holds evidence archives, and no folder was given for them"
        )
    for entry in archived:
        if "/" in entry.file or "\\" in entry.file or entry.file.startswith("."):
            raise ConnectorError("archive.malformed", f"{entry.file!r} is not the name of an evidence archive")
        name = ARCHIVED_FILES + entry.file
        if sha256_of(archive, name) != entry.sha256:  # before it is held whole: it may inflate to anything
            raise ConnectorError(
                "archive.altered", f"{name} is not the evidence archive its row names (its SHA-256 differs)"
            )
        with reading(name):
            data = archive.read(name)
        path = folder / entry.file
        if path.exists():
            if path.read_bytes() != data:
                raise ConnectorError(
                    "archive.occupied", f"{path} already holds another evidence archive; this node's folder is not new"
                )
            continue  # the same file (left by an import that did not finish): kept as it is
        try:
            put = write_evidence_archive(folder, entry.file, data, entry.jws)
        except ConnectorError as exc:
            if exc.code == "evidence.archive_unwritable":
                raise ConnectorError(
                    "archive.folder_unwritable",
                    f"the evidence archive files cannot be written in {folder}: {exc.problem.details['cause']}",
                    str(folder),
                ) from None
            if exc.code != "evidence.archive_conflict":
                raise
            raise ConnectorError(
                "archive.occupied",
                f"{exc.where} is there already, and is not of this archive; this node's folder is not new",
                exc.where,
            ) from None
        if written is not None:
            written.extend(put)
