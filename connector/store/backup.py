"""An online backup of an SQLite store: a consistent copy taken while the node keeps running.

SQLite's backup API copies the database page by page from one read transaction, so the copy is the store as it
was at one instant, whatever the node commits meanwhile (WAL mode lets it go on writing). The copy is written
beside the target under a temporary name, checked (SQLite's integrity check, the schema version) and flushed to
disk, then renamed into place: a target that exists is never half-written, and an interrupted backup leaves
nothing behind but the temporary file's removal.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from connector.errors import ConnectorError, no_space, not_written


@dataclass(frozen=True)
class Backup:
    path: Path
    pages: int
    bytes: int
    schema_version: int


def backup_sqlite(source: Path, target: Path) -> Backup:
    """Copy the SQLite store at `source` to a new file `target` (which must not exist)."""
    if not source.is_file():
        raise ConnectorError("store.not_found", f"no store at {source}", "store.path")
    if target.exists():
        raise ConnectorError("cli.exists", f"{target} exists already; back up to a new file", "--to")
    if not target.parent.is_dir():
        raise ConnectorError("cli.missing_file", f"the folder {target.parent} does not exist", "--to")
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    try:
        # Read-write as the node opens it (a read-only connection cannot always read a database in WAL mode);
        # nothing is written through it.
        with contextlib.closing(sqlite3.connect(source)) as src:
            with contextlib.closing(sqlite3.connect(partial)) as dst:
                src.backup(dst)  # every page in one step: one read transaction, one instant
                version = dst.execute("PRAGMA user_version").fetchone()[0]
                pages = dst.execute("PRAGMA page_count").fetchone()[0]
                verdict = dst.execute("PRAGMA integrity_check").fetchone()[0]
                # The copy is a file of its own: no write-ahead log beside it to lose when it is moved.
                dst.execute("PRAGMA journal_mode=DELETE")
        if verdict != "ok":
            raise ConnectorError("store.backup_corrupt", f"the copy fails SQLite's integrity check: {verdict}")
        with open(partial, "rb") as written:
            os.fsync(written.fileno())
        os.replace(partial, target)
        _sync_folder(target.parent)
    except sqlite3.Error as exc:
        code = getattr(exc, "sqlite_errorcode", None)
        if code is not None and code & 0xFF == sqlite3.SQLITE_FULL:  # only the copy is written: its disk is full
            raise no_space(target, "store.backup", "--to") from None
        raise ConnectorError("store.backup_failed", f"the store could not be backed up: {exc}", "store.path") from None
    except OSError as exc:  # syncing or renaming the copy
        raise not_written(exc, target, "store.backup", "--to") from None
    finally:
        partial.unlink(missing_ok=True)
    return Backup(target, pages, target.stat().st_size, version)


def _sync_folder(folder: Path) -> None:
    """Make the rename itself durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
