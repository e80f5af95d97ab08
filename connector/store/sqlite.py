"""SQLite backend: one file per node, WAL mode, migrations, all work on one dedicated thread.

The event loop never touches the database: every call hops to the store's thread, where each `run` is one
`BEGIN IMMEDIATE ... COMMIT`. With WAL and a transaction per state change, a process killed at any moment
leaves the last committed state intact and nothing half-written.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, TypeVar

import sqlite_utils

from connector.errors import ConnectorError
from connector.store.migrations import MIGRATIONS

T = TypeVar("T")
log = logging.getLogger("connector.store")


class SqliteStore:
    def __init__(self, path: Path | str, synchronous: str = "normal") -> None:
        self.path = Path(path)
        self.synchronous = synchronous
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite_utils.Database | None = None
        self._thread_id: int | None = None

    # --- lifecycle ------------------------------------------------------------------------------------------

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        await self._submit(self._open_sync)

    def _open_sync(self) -> None:
        self._thread_id = threading.get_ident()
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        except sqlite3.Error as exc:
            raise ConnectorError("store.open", f"cannot open the store {self.path}: {exc}", "store.path") from None
        conn.row_factory = sqlite3.Row  # rows read by column name, without a dict per row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        self._db = sqlite_utils.Database(conn)
        self._migrate(conn)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        current = conn.execute("PRAGMA user_version").fetchone()[0]
        known = MIGRATIONS[-1].version if MIGRATIONS else 0
        if current > known:
            raise ConnectorError(
                "store.too_new",
                f"the store {self.path} has schema version {current}, newer than this program knows ({known}); "
                "run a newer connector",
                "store.path",
            )
        for migration in MIGRATIONS:
            if migration.version <= current:
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _statements(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_history(version, description, applied_at) VALUES (?, ?, ?)",
                    (migration.version, migration.description, datetime.now(timezone.utc).isoformat()),
                )
                conn.execute(f"PRAGMA user_version={migration.version}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            log.info("store migrated", extra={"version": migration.version, "step": migration.description})

    async def close(self) -> None:
        if self._executor is None:
            return
        try:
            await self._submit(self._close_sync)
        finally:
            self._executor.shutdown(wait=True)
            self._executor = None

    def _close_sync(self) -> None:
        if self._db is not None:
            conn = self._db.conn
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:  # a busy checkpoint is harmless; the WAL is replayed on open
                log.warning("store checkpoint skipped: %s", exc)
            conn.close()
            self._db = None

    # --- work -----------------------------------------------------------------------------------------------

    async def _submit(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise ConnectorError("store.closed", "the store is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    def _transaction(self, fn: Callable[..., T], *args: Any) -> T:
        db = self._db
        assert db is not None, "store used before open()"
        conn = db.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(db, *args)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    def _read(self, fn: Callable[..., T], *args: Any) -> T:
        db = self._db
        assert db is not None, "store used before open()"
        conn = db.conn
        conn.execute("BEGIN")
        try:
            return fn(db, *args)
        finally:
            conn.execute("ROLLBACK")

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._submit(self._transaction, fn, *args)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._submit(self._read, fn, *args)

    def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """For code already on the store thread (nested work inside `run`)."""
        assert threading.get_ident() == self._thread_id
        return fn(self._db, *args)

    # --- small shared operations ----------------------------------------------------------------------------

    async def get_setting(self, key: str) -> str | None:
        def get(db: sqlite_utils.Database) -> str | None:
            row = db.execute("SELECT value FROM settings WHERE key = ?", [key]).fetchone()
            return row[0] if row else None

        return await self.read(get)

    async def put_setting(self, key: str, value: str) -> None:
        def put(db: sqlite_utils.Database) -> None:
            db.execute("INSERT INTO settings(key, value) VALUES (?, ?) "
                       "ON CONFLICT(key) DO UPDATE SET value = excluded.value", [key, value])

        await self.run(put)

    async def schema_version(self) -> int:
        return await self.read(lambda db: db.execute("PRAGMA user_version").fetchone()[0])

    async def healthy(self) -> bool:
        try:
            return await self.read(lambda db: db.execute("SELECT 1").fetchone()[0] == 1)
        except (sqlite3.Error, ConnectorError):
            return False


def _statements(sql: str) -> list[str]:
    """Split a migration script into complete statements (triggers with inner semicolons stay whole)."""
    statements: list[str] = []
    pending = ""
    for piece in sql.split(";"):
        pending += piece + ";"
        if sqlite3.complete_statement(pending):
            if pending.strip(" \n\t;"):
                statements.append(pending.strip())
            pending = ""
    if pending.strip(" \n\t;"):
        raise ValueError(f"incomplete SQL statement in migration: {pending.strip()[:80]}")
    return statements


async def open_store(path: Path | str, synchronous: str = "normal") -> SqliteStore:
    store = SqliteStore(path, synchronous)
    await store.open()
    return store
