"""SQLite backend: one file per node, WAL mode, migrations, all work on one dedicated thread.

The event loop never touches the database: every call hops to the store's thread, where each `run` is atomic
and committed before its caller resumes. With WAL and a transaction per state change, a process killed at any
moment leaves the last committed state intact and nothing half-written.

Group commit: what callers queued while the thread was busy runs in one `BEGIN IMMEDIATE ... COMMIT`, each
call inside a savepoint of its own, so one call that fails is rolled back alone and the others still commit.
Results are handed back only after the COMMIT, so no caller can act on a change that might not be durable.
Under load this turns many commits (each writes its pages to the WAL) into one, and one wake-up of the event
loop per group instead of one per call; a lone call runs exactly as before, in a transaction of its own.

What `sqlite3` raises reaches callers as the store's own errors (connector.store.errors): a refused constraint
or guard as StoreConflict, a busy, locked, full or failing database as StoreUnavailable.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from connector.errors import ConnectorError
from connector.store.calls import RAW, READ, WRITE, Call, hand_back, next_group, submit
from connector.store.coordination import SOLO, Solo
from connector.store.errors import StoreConflict, StoreError, StoreUnavailable, StoreUnwritable
from connector.store.migrations import MIGRATIONS

T = TypeVar("T")
log = logging.getLogger("connector.store")

CACHE_KIB = 16 * 1024

# Primary result codes that say "not now" (the database or its file cannot be used at the moment), not "no"; of
# them, those that say the file cannot be written until someone acts (a full disk, failing storage, read-only).
_UNWRITABLE = frozenset({sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY})
_UNAVAILABLE = _UNWRITABLE | {
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_NOMEM,
    sqlite3.SQLITE_PROTOCOL,
    sqlite3.SQLITE_INTERRUPT,
}


def store_error(exc: BaseException, where: str | None = None) -> BaseException:
    """`exc` as the store's own error when it is SQLite's (its cause kept), naming the store file `where`;
    anything else unchanged."""
    if not isinstance(exc, sqlite3.Error):
        return exc
    kind: type[StoreError]
    if isinstance(exc, sqlite3.IntegrityError):
        kind = StoreConflict
    else:
        code = getattr(exc, "sqlite_errorcode", None)
        primary = None if code is None else code & 0xFF
        if primary in _UNWRITABLE:
            kind = StoreUnwritable
        else:
            kind = StoreUnavailable if primary in _UNAVAILABLE else StoreError
    error = kind(f"{exc} (the store {where})" if where else str(exc))
    error.__cause__ = exc
    return error


def _roll_back(conn: sqlite3.Connection) -> None:
    """End the open transaction without keeping it. After some errors (a full disk, an I/O error) SQLite has rolled
    it back already: a ROLLBACK then would fail and hide the error that says why."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _damaged(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


class SqliteTx:
    """The `Tx` over an SQLite connection. `execute` and `executemany` are the connection's own (bound once, so
    that a statement costs no call more than it would on the connection); rows are `sqlite3.Row`s."""

    __slots__ = ("execute", "executemany", "_conn", "_where")
    dialect: Literal["sqlite"] = "sqlite"

    def __init__(self, conn: sqlite3.Connection, where: str | None = None) -> None:
        self.execute: Callable[..., sqlite3.Cursor] = conn.execute
        self.executemany: Callable[[str, Iterable[Sequence[Any]]], sqlite3.Cursor] = conn.executemany
        self._conn = conn
        self._where = where  # the store file, named in the errors raised from a savepoint

    def query(self, sql: str, params: Sequence[Any] = ()) -> Iterator[dict[str, Any]]:
        for row in self.execute(sql, params):
            yield dict(row)

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        conn = self._conn
        conn.execute("SAVEPOINT attempt")
        try:
            yield
        except BaseException as exc:
            if conn.in_transaction:  # else SQLite abandoned the whole transaction (I/O error, disk full)
                conn.execute("ROLLBACK TO attempt")
                conn.execute("RELEASE attempt")
            error = store_error(exc, self._where)
            if error is exc:
                raise
            raise error from exc
        conn.execute("RELEASE attempt")


def connect(path: Path | str, read_only: bool = False) -> sqlite3.Connection:
    """A connection as the store uses one: transactions begun and ended explicitly, rows by column name."""
    if read_only:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=True)
    conn.row_factory = sqlite3.Row  # rows read by column name, without a dict per row
    # A row a conflict replaces counts as deleted, for the evidence tables' guards too: REPLACE cannot get round them.
    conn.execute("PRAGMA recursive_triggers=ON")
    return conn


def migrate(conn: sqlite3.Connection, name: str = "the store") -> None:
    """Apply the migrations `conn` has not seen yet, each in a transaction of its own (`user_version` counts them)."""
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    known = MIGRATIONS[-1].version if MIGRATIONS else 0
    if current > known:
        raise ConnectorError(
            "store.too_new",
            f"{name} has schema version {current}, newer than this program knows ({known}); run a newer connector",
            "store.path",
        )
    for migration in MIGRATIONS:
        if migration.version <= current:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _statements(migration.script("sqlite")):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_history(version, description, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.description, datetime.now(UTC).isoformat()),
            )
            conn.execute(f"PRAGMA user_version={migration.version}")
            conn.execute("COMMIT")
        except BaseException:
            _roll_back(conn)
            raise
        log.info("store migrated", extra={"version": migration.version, "step": migration.description})


@contextlib.contextmanager
def reading(path: Path | str) -> Iterator[SqliteTx]:
    """A read transaction on the store file at `path`, opened read-only and without migrating (for tools that
    inspect a store no node has open)."""
    conn = connect(path, read_only=True)
    try:
        conn.execute("BEGIN")
        yield SqliteTx(conn)
    finally:
        conn.close()


class SqliteStore:
    """`create`: an empty or missing store file is made a new store (False: it is refused, `store.missing` or
    `store.empty`, before anything is written: the node knows a store existed there)."""

    def __init__(self, path: Path | str, synchronous: str = "normal", create: bool = True) -> None:
        self.path = Path(path)
        self.synchronous = synchronous
        self.create = create
        self._translate = functools.partial(store_error, where=str(self.path))
        self._calls: queue.SimpleQueue[Call | None] | None = None
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._tx: SqliteTx | None = None
        self._undo_hooks: list[Callable[[], None]] = []

    @property
    def coordination(self) -> Solo:
        """One process has the file (the node's data folder is locked): every claim is its own."""
        return SOLO

    # --- lifecycle ------------------------------------------------------------------------------------------

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._calls = queue.SimpleQueue()
        # A daemon: a store left open must not keep the interpreter alive; SQLite recovers an unclosed WAL.
        self._thread = threading.Thread(target=self._serve, args=(self._calls,), name="store", daemon=True)
        self._thread.start()
        await self._submit(RAW, self._open_sync)

    def _open_sync(self) -> None:
        if not self.create and not self.path.exists():
            raise ConnectorError("store.missing", f"the store {self.path} does not exist", "store.path")
        try:
            conn = connect(self.path)
        except sqlite3.Error as exc:
            raise ConnectorError("store.open", f"cannot open the store {self.path}: {exc}", "store.path") from None
        try:
            self._prepare(conn)
        except BaseException:
            conn.close()
            raise
        self._conn, self._tx = conn, SqliteTx(conn, str(self.path))

    def _prepare(self, conn: sqlite3.Connection) -> None:
        """Check the store file (intact, not empty unless it may be created), set the connection up, migrate."""
        try:
            problems = [str(row[0]) for row in conn.execute("PRAGMA quick_check(5)")]
            if problems != ["ok"]:
                raise ConnectorError(
                    "store.damaged",
                    f"the store {self.path} is damaged ({'; '.join(problems)}); restore it from a backup",
                    "store.path",
                )
            if not self.create and conn.execute("PRAGMA user_version").fetchone()[0] == 0:
                raise ConnectorError("store.empty", f"the store {self.path} is empty", "store.path")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous.upper()}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=5000")
            # Room for what a group of transactions touches (see the module docstring) plus the hot pages around
            # it: with the default 2 MiB, SQLite writes dirty pages to the WAL mid-transaction to make room, and
            # again at commit. Memory only; what a commit guarantees is unchanged.
            conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
            # The undo records of savepoints (one per call in a group) stay in memory instead of a temporary file.
            conn.execute("PRAGMA temp_store=MEMORY")
            migrate(conn, f"the store {self.path}")
        except sqlite3.Error as exc:
            if _damaged(exc):
                raise ConnectorError(
                    "store.damaged", f"the store {self.path} is damaged ({exc}); restore it from a backup", "store.path"
                ) from None
            raise ConnectorError("store.open", f"cannot open the store {self.path}: {exc}", "store.path") from None

    async def close(self) -> None:
        if self._calls is None:
            return
        calls, thread = self._calls, self._thread
        try:
            await self._submit(RAW, self._close_sync)
        finally:
            self._calls = None
            calls.put(None)  # the thread ends once the calls queued before this one are done
            if thread is not None:
                thread.join(timeout=30)  # at most the calls queued behind the close, each failing at once
            self._thread = None

    def _close_sync(self) -> None:
        conn = self._conn
        if conn is not None:
            try:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as exc:  # a busy checkpoint is harmless; the WAL is replayed on open
                log.warning("store checkpoint skipped: %s", exc)
            conn.close()
            self._conn = self._tx = None

    def at_write_begin(self, query: str, hook: Callable[[Any], None]) -> None:
        """Only this process writes the file (the data folder is locked): what memory holds stays right."""
        return None

    def on_undo(self, hook: Callable[[], None]) -> None:
        """Call `hook` on the store thread whenever writes are rolled back (a call failed, a read wrote), so that
        what is kept in memory about the store can be dropped rather than be ahead of it."""
        self._undo_hooks.append(hook)

    def _undone(self) -> None:
        for hook in self._undo_hooks:
            hook()

    # --- work -----------------------------------------------------------------------------------------------

    async def _submit(self, mode: str, fn: Callable[..., T], *args: Any) -> T:
        calls = self._calls
        if calls is None:
            raise ConnectorError("store.closed", f"the store {self.path} is not open (the node is stopping)")
        return await submit(calls, mode, fn, args)

    def _serve(self, calls: queue.SimpleQueue[Call | None]) -> None:
        """The store thread: take what is queued, run it in groups, hand results back; until `None` arrives."""
        while (batch := next_group(calls)) is not None:
            start = 0
            while start < len(batch):
                if batch[start].mode == RAW:
                    group = batch[start : start + 1]
                    self._raw(group[0])
                else:
                    end = start
                    while end < len(batch) and batch[end].mode != RAW:
                        end += 1
                    group = batch[start:end]
                    try:
                        self._group(group)
                    except BaseException as exc:  # the thread must outlive anything a group can throw
                        self._abandon(group, exc)
                start += len(group)
                hand_back(group, self._translate)

    def _abandon(self, group: list[Call], exc: BaseException) -> None:
        """Something failed outside any one call (a ROLLBACK TO, say): nothing of the group is kept."""
        log.error("store group failed: %s", exc)
        conn = self._conn
        if conn is not None and conn.in_transaction:
            try:
                conn.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # closing the connection is the last resort, and the next BEGIN will say so
        self._undone()
        for call in group:
            call.outcome = (False, exc)

    def _raw(self, call: Call) -> None:
        try:
            call.outcome = (True, call.fn(*call.args))
        except BaseException as exc:  # handed to the caller, as an executor would
            call.outcome = (False, exc)

    def _group(self, group: list[Call]) -> None:
        conn, tx = self._conn, self._tx
        if conn is None or tx is None:
            error = ConnectorError("store.closed", f"the store {self.path} is not open (the node is stopping)")
            for call in group:
                call.outcome = (False, error)
            return
        if len(group) == 1:
            call = group[0]
            try:
                call.outcome = (True, (self._transaction if call.mode == WRITE else self._read)(call.fn, *call.args))
            except BaseException as exc:
                call.outcome = (False, exc)
            return
        writes = any(call.mode == WRITE for call in group)
        try:
            conn.execute("BEGIN IMMEDIATE" if writes else "BEGIN")
        except sqlite3.Error as exc:
            for call in group:
                call.outcome = (False, exc)
            return
        done: list[Call] = []
        for call in group:
            try:
                conn.execute("SAVEPOINT call")
            except sqlite3.Error as exc:
                call.outcome = (False, exc)
                continue
            changes = conn.total_changes
            try:
                result = call.fn(tx, *call.args)
            except BaseException as exc:
                call.outcome = (False, exc)
                self._undone()
                if not conn.in_transaction:
                    # SQLite abandoned the whole transaction (I/O error, disk full): nothing of it will commit.
                    for earlier in done:
                        earlier.outcome = (False, exc)
                    done = []
                    try:
                        conn.execute("BEGIN IMMEDIATE" if writes else "BEGIN")
                    except sqlite3.Error as again:
                        for rest in group[group.index(call) + 1 :]:
                            rest.outcome = (False, again)
                        return
                    continue
                conn.execute("ROLLBACK TO call")
                conn.execute("RELEASE call")
                continue
            if call.mode == READ:
                conn.execute("ROLLBACK TO call")  # a read leaves nothing behind, as in a transaction of its own
                if conn.total_changes != changes:
                    self._undone()
            conn.execute("RELEASE call")
            call.outcome = (True, result)
            done.append(call)
        try:
            conn.execute("COMMIT" if writes else "ROLLBACK")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self._undone()
            for call in done:
                call.outcome = (False, exc)

    def _transaction(self, fn: Callable[..., T], *args: Any) -> T:
        conn, tx = self._conn, self._tx
        assert conn is not None and tx is not None, "store used before open()"
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(tx, *args)
        except BaseException:
            try:
                _roll_back(conn)
            finally:
                self._undone()
            raise
        try:
            conn.execute("COMMIT")
        except BaseException:
            self._undone()
            raise
        return result

    def _read(self, fn: Callable[..., T], *args: Any) -> T:
        conn, tx = self._conn, self._tx
        assert conn is not None and tx is not None, "store used before open()"
        conn.execute("BEGIN")
        changes = conn.total_changes
        try:
            return fn(tx, *args)
        finally:
            _roll_back(conn)
            if conn.total_changes != changes:
                self._undone()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(tx, *args)` atomically, committed before this returns (possibly sharing its COMMIT)."""
        return await self._submit(WRITE, fn, *args)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._submit(READ, fn, *args)

    async def schema_version(self) -> int:
        return await self.read(lambda tx: tx.execute("PRAGMA user_version").fetchone()[0])

    async def healthy(self) -> bool:
        try:
            return await self.read(lambda tx: tx.execute("SELECT 1").fetchone()[0] == 1)
        except (StoreError, ConnectorError):
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
