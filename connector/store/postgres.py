"""PostgreSQL backend: the node's state in a PostgreSQL database (`store.url`), over psycopg 3 and its pool.

The store functions stay synchronous `fn(tx, ...)`, exactly as SQLite runs them, on threads of the store's own,
each with a connection of the pool; the event loop never waits on the database.

Writes: one writer thread, as with SQLite. What callers queued while it was busy runs in one transaction, each call
inside a savepoint of its own, so that one failing call is rolled back alone (PostgreSQL refuses every statement
after a failed one until the savepoint is rolled back) and the others share one COMMIT: group commit, one WAL
flush for the group. Results are handed back after the COMMIT. Writes run one at a time within the node because
the node's state kept in memory next to the store (the evidence chain's head, the replay cache's binding, what
the control plane knows of its processes) assumes that, as it always has with SQLite: the semantics are those of
the SQLite store, not merely similar.

Reads: on the other threads of the store, concurrently with the writer and each other, each in a REPEATABLE READ
transaction (one snapshot for the whole read, as an SQLite read transaction sees), always rolled back.

Isolation of writes: READ COMMITTED, with explicit locks where a rule spans rows, rather than SERIALIZABLE. A
write transaction runs functions with effects outside the database (an appended record moves the chain's head in
memory, a step schedules work on the event loop), so it cannot simply be run again after a serialization failure,
which SERIALIZABLE makes routine. The rules that span rows are the evidence chain's: its trigger takes an advisory
lock (CHAIN_LOCK) held until the appending transaction ends, then checks the new record against the committed
head, so two processes appending make one chain; a loser of that race is refused, and its journal re-reads the
head under the same lock and appends again (connector.evidence.edge.journal). Everything else a node writes is
its own: one node per database, which the store enforces with a session advisory lock (NODE_LOCK) held from open
to close, as the node's data folder is locked for SQLite.

Connections: at most `pool_size` in the pool (one for the writer, the rest for readers) and one more that holds
NODE_LOCK. One that the server ended while it sat in the pool (a restart, an idle timeout) fails at BEGIN, before
anything ran, and is replaced there; `healthy()` is a round trip, and takes NODE_LOCK again after a restart.

Errors: psycopg's become connector.store.errors errors (a refused constraint or guard StoreConflict; a lost
connection, a full disk, a deadlock, a serialization failure, a cancelled statement StoreUnavailable). A
connection lost during COMMIT is reported as StoreUnavailable although the transaction may have committed, as an
I/O error at COMMIT is with SQLite: callers retry, and the protocol's idempotency makes that safe.

The optional database role without UPDATE or DELETE on the evidence tables is written by `restricted_role_sql`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import psycopg
import psycopg.errors
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from connector.errors import ConnectorError
from connector.store.calls import MAX_GROUP, WRITE, Call, hand_back
from connector.store.errors import StoreConflict, StoreError, StoreUnavailable
from connector.store.migrations import MIGRATION_LOCK, MIGRATIONS, NODE_LOCK

T = TypeVar("T")
log = logging.getLogger("connector.store")

CONNECT_TIMEOUT = 10  # seconds to reach the server
POOL_TIMEOUT = 10.0  # seconds a call waits for a connection of the pool before it fails as unavailable
HEALTH_TIMEOUT = 5.0
# Seconds a starting node waits for NODE_LOCK: the session of a node that just stopped or died may still hold it
# for a moment (the server ends a session after its client has gone).
LOCK_WAIT = 5.0
EVIDENCE_TABLES = (
    "evidence_records",
    "evidence_subjects",
    "evidence_blobs",
    "evidence_archives",
    "evidence_checkpoints",
    "evidence_timestamps",
    "agreement_signatures",
)

# SQLSTATE classes and codes that say "not now": connection exceptions, insufficient resources (disk full, out of
# memory, too many connections), operator intervention (shut down, cannot connect now), a serialization failure or
# deadlock, a lock not available, a cancelled statement.
_UNAVAILABLE_CLASSES = ("08", "53", "57")
_UNAVAILABLE_STATES = frozenset({"40001", "40P01", "55P03", "55006"})


def store_error(exc: BaseException) -> BaseException:
    """`exc` as the store's own error when it is psycopg's or the pool's (its cause kept); anything else unchanged."""
    kind: type[StoreError]
    if isinstance(exc, PoolTimeout):
        kind = StoreUnavailable
    elif isinstance(exc, psycopg.Error):
        state = exc.sqlstate or ""
        if isinstance(exc, psycopg.errors.IntegrityError) or state.startswith("23"):
            kind = StoreConflict
        elif (
            state[:2] in _UNAVAILABLE_CLASSES
            or state in _UNAVAILABLE_STATES
            or (not state and isinstance(exc, psycopg.OperationalError))  # the connection failed on our side
        ):
            kind = StoreUnavailable
        else:
            kind = StoreError
    else:
        return exc
    error = kind(str(exc).strip())
    error.__cause__ = exc
    return error


def describe(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = (f"{parts.username}@" if parts.username else "") + host + (f":{parts.port}" if parts.port else "")
        return parts._replace(netloc=netloc, query="").geturl()
    except ValueError:
        return "the configured PostgreSQL URL"


# --- statements -----------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def to_psycopg(sql: str) -> str:
    """A statement with `?` placeholders in psycopg's style: each `?` outside string literals, quoted names and
    comments becomes `%s`, and every `%` becomes `%%` (psycopg reads `%` anywhere in a statement with
    parameters)."""
    if "?" not in sql and "%" not in sql:
        return sql
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c == "'" or c == '"':
            end = sql.find(c, i + 1)
            end = n if end < 0 else end + 1  # a doubled quote inside is two adjacent quoted runs: the same text
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(sql[i:end].replace("%", "%%"))
            i = end
        else:
            out.append("%s" if c == "?" else "%%" if c == "%" else c)
            i += 1
    return "".join(out)


class Row(tuple[Any, ...]):
    """A result row read by position or by column name, like `sqlite3.Row` (`dict(row)` maps names to values)."""

    __slots__ = ()
    _index: dict[str, int] = {}

    def __getitem__(self, key: Any) -> Any:
        if key.__class__ is str:
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


@functools.lru_cache(maxsize=1024)
def _row_class(names: tuple[str, ...]) -> type[Row]:
    return type("Row", (Row,), {"__slots__": (), "_index": {name: i for i, name in enumerate(names)}})


def _rows(cursor: Any) -> Callable[[Sequence[Any]], Any]:
    description = cursor.description
    if description is None:
        return tuple
    return _row_class(tuple(column.name for column in description))


_CHANGES = ("INSERT", "UPDATE", "DELETE", "MERGE")


class PostgresTx:
    """The `Tx` over a psycopg connection in a transaction the store opened."""

    __slots__ = ("_conn", "wrote", "_prepare")
    dialect: Literal["postgresql"] = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn
        self.wrote = False  # whether a statement changed rows (so that a rolled-back read tells the undo hooks)
        self._prepare: bool | None = None  # psycopg's choice (a statement run often is prepared), or never

    def execute(self, sql: str, params: Sequence[Any] = ()) -> psycopg.Cursor[Any]:
        cursor = self._conn.execute(to_psycopg(sql), params, prepare=self._prepare)
        if not self.wrote:
            tag = cursor.statusmessage
            if tag is not None and tag.startswith(_CHANGES) and cursor.rowcount > 0:
                self.wrote = True
        return cursor

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> psycopg.Cursor[Any]:
        cursor = self._conn.cursor()
        cursor.executemany(to_psycopg(sql), seq)
        if cursor.rowcount > 0:
            self.wrote = True
        return cursor

    def query(self, sql: str, params: Sequence[Any] = ()) -> Iterator[dict[str, Any]]:
        for row in self.execute(sql, params):
            yield dict(row)

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        # In a pipeline, the savepoint, the block's statements and the release travel in one round trip (a statement
        # whose rows are read waits for them there); an error is raised at the latest when the pipeline ends.
        # Nothing in it is prepared: a statement prepared in a pipeline that then fails is forgotten by the server
        # but not by psycopg.
        conn = self._conn
        self.wrote = True  # (what the block's statements changed is not known in a pipeline: assume they wrote)
        outer, self._prepare = self._prepare, False
        try:
            with conn.pipeline():
                conn.execute("SAVEPOINT attempt", prepare=False)
                yield
                conn.execute("RELEASE SAVEPOINT attempt", prepare=False)
        except BaseException as exc:
            self._prepare = outer
            if conn.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
                conn.execute("ROLLBACK TO SAVEPOINT attempt")
                conn.execute("RELEASE SAVEPOINT attempt")
            error = store_error(exc)
            if error is exc:
                raise
            raise error from exc
        self._prepare = outer


# --- connections and migrations ---------------------------------------------------------------------------------


def _value(cursor: psycopg.Cursor[Any]) -> Any:
    """The first column of the one row a statement returns."""
    row = cursor.fetchone()
    assert row is not None, "the statement returned no row"
    return row[0]


def _parameters(password: str | None) -> dict[str, Any]:
    """What every connection of the store is opened with (besides the URL)."""
    extra = {"password": password} if password else {}  # else the URL's, or PGPASSWORD / PGPASSFILE
    return {
        "autocommit": True,
        "row_factory": _rows,
        "connect_timeout": CONNECT_TIMEOUT,
        "application_name": "connector",
        **extra,
    }


def connect(url: str, password: str | None = None, name: str = "the store") -> psycopg.Connection[Any]:
    """A connection as the store uses one: transactions begun and ended explicitly, rows by position and name."""
    try:
        return psycopg.Connection.connect(url, **_parameters(password))
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConnectorError("store.open", f"cannot connect to {name} {describe(url)}: {reason}", "store.url") from None


def schema_version(conn: psycopg.Connection[Any]) -> int:
    """The highest migration applied to the database (0 for an empty one)."""
    if _value(conn.execute("SELECT to_regclass('schema_history')")) is None:
        return 0
    return int(_value(conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_history")))


def migrate(conn: psycopg.Connection[Any], name: str = "the store") -> None:
    """Apply the migrations the database has not seen yet, each in a transaction of its own; one process at a time
    (MIGRATION_LOCK), so that two nodes or tools starting together do not both apply one."""
    conn.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK])
    try:
        current = schema_version(conn)
        known = MIGRATIONS[-1].version if MIGRATIONS else 0
        if current > known:
            raise ConnectorError(
                "store.too_new",
                f"{name} has schema version {current}, newer than this program knows ({known}); run a newer connector",
                "store.url",
            )
        for migration in MIGRATIONS:
            if migration.version <= current:
                continue
            conn.execute("BEGIN")
            try:
                conn.execute(migration.script("postgresql"))
                conn.execute(
                    "INSERT INTO schema_history(version, description, applied_at) VALUES (%s, %s, %s)",
                    [migration.version, migration.description, datetime.now(UTC).isoformat()],
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.info.transaction_status != TransactionStatus.UNKNOWN:
                    conn.execute("ROLLBACK")
                raise
            log.info("store migrated", extra={"version": migration.version, "step": migration.description})
    finally:
        if conn.info.transaction_status == TransactionStatus.IDLE:
            conn.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK])


@contextlib.contextmanager
def reading(url: str, password: str | None = None) -> Iterator[PostgresTx]:
    """A read-only transaction on the database at `url`, without migrating (for tools that inspect a store)."""
    conn = connect(url, password)
    try:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        yield PostgresTx(conn)
    finally:
        conn.close()


def take_node_lock(conn: psycopg.Connection[Any], wait: float = 0.0) -> bool:
    """Take NODE_LOCK for the session of `conn` (trying again for `wait` seconds); whether it was taken."""
    deadline = time.monotonic() + wait
    while True:
        if _value(conn.execute("SELECT pg_try_advisory_lock(%s)", [NODE_LOCK])):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def release_node_lock(conn: psycopg.Connection[Any]) -> None:
    """Give NODE_LOCK up now (closing the connection alone releases it only once the server has ended the
    session, a moment later: a node started at once could find it still taken)."""
    if conn.info.transaction_status == TransactionStatus.IDLE:
        with contextlib.suppress(psycopg.Error):
            conn.execute("SELECT pg_advisory_unlock(%s)", [NODE_LOCK])


def restricted_role_sql(role: str, database: str) -> str:
    """SQL an operator runs (as the database's owner, once the node's tables exist) to create `role` for the node:
    every right it needs on its tables, and none to change or delete evidence, whatever the triggers say (only the
    owner can drop or disable a trigger). The password is then set with `ALTER ROLE ... PASSWORD` (or psql's
    \\password). Tables a later version adds are granted by running the GRANT and REVOKE lines again."""
    quoted = '"' + role.replace('"', '""') + '"'
    evidence = ", ".join(EVIDENCE_TABLES)
    return f"""CREATE ROLE {quoted} LOGIN;
GRANT CONNECT ON DATABASE "{database.replace('"', '""')}" TO {quoted};
GRANT USAGE ON SCHEMA public TO {quoted};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {quoted};
REVOKE UPDATE, DELETE, TRUNCATE ON {evidence} FROM {quoted};
"""


# --- the store --------------------------------------------------------------------------------------------------


class PostgresStore:
    """The node's store in PostgreSQL. `pool_size` connections at most: one writes, the others read."""

    def __init__(
        self,
        url: str,
        pool_size: int = 4,
        password: str | None = None,
        exclusive: bool = True,
        lock_wait: float = LOCK_WAIT,
    ) -> None:
        self.url = url
        self.pool_size = max(2, pool_size)
        self.password = password
        self.exclusive = exclusive
        self.lock_wait = lock_wait
        self.name = f"the store {describe(url)}"
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = None
        self._lock_conn: psycopg.Connection[Any] | None = None
        self._calls: queue.SimpleQueue[Call | None] | None = None
        self._writer: threading.Thread | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._undo_hooks: list[Callable[[], None]] = []
        self._lock_guard = threading.Lock()

    # --- lifecycle ------------------------------------------------------------------------------------------

    async def open(self) -> None:
        try:
            await asyncio.to_thread(self._open_sync)
        except Exception as exc:
            error = store_error(exc)
            if error is exc:
                raise
            raise error from exc
        self._calls = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._serve, args=(self._calls,), name="store-writer", daemon=True)
        self._writer.start()
        self._readers = ThreadPoolExecutor(self.pool_size - 1, thread_name_prefix="store-reader")

    def _open_sync(self) -> None:
        conn = connect(self.url, self.password, self.name)
        try:
            if self.exclusive and not take_node_lock(conn, self.lock_wait):
                raise ConnectorError(
                    "store.in_use",
                    f"another node is using {self.name}; each node needs a database of its own",
                    "store.url",
                )
            migrate(conn, self.name)
            order = _value(conn.execute("SELECT datcollate FROM pg_database WHERE datname = current_database()"))
            if order not in ("C", "POSIX", "C.UTF-8", "C.utf8", "ucs_basic"):
                log.warning(
                    "the store's database sorts text by the collation %s: lists come in that order, not in the byte "
                    "order SQLite uses (create the database with LC_COLLATE 'C' for the same order)",
                    order,
                )
        except BaseException:
            conn.close()
            raise
        self._lock_conn = conn  # holds NODE_LOCK for as long as the store is open
        pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
            self.url,
            kwargs=_parameters(self.password),
            min_size=min(2, self.pool_size),
            max_size=self.pool_size,
            timeout=POOL_TIMEOUT,
            name="connector-store",
            open=False,
        )
        try:
            pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except PoolTimeout:
            pool.close()
            conn.close()
            self._lock_conn = None
            raise ConnectorError(
                "store.open", f"cannot open connections to {self.name} (see the log)", "store.url"
            ) from None
        self._pool = pool

    async def close(self) -> None:
        calls, writer, readers = self._calls, self._writer, self._readers
        if calls is None:
            return
        self._calls = self._writer = self._readers = None
        calls.put(None)  # the writer ends once the calls queued before this are done
        await asyncio.to_thread(self._close_sync, writer, readers)

    def _close_sync(self, writer: threading.Thread | None, readers: ThreadPoolExecutor | None) -> None:
        if writer is not None:
            writer.join(timeout=30)
        if readers is not None:
            readers.shutdown(wait=True)
        if self._pool is not None:
            self._pool.close()
            self._pool = None
        if self._lock_conn is not None:
            release_node_lock(self._lock_conn)
            self._lock_conn.close()
            self._lock_conn = None

    def on_undo(self, hook: Callable[[], None]) -> None:
        """Call `hook` whenever writes are rolled back (a call failed, a read wrote), on the thread that rolled them
        back, so that what is kept in memory about the store can be dropped rather than be ahead of it."""
        self._undo_hooks.append(hook)

    def _undone(self) -> None:
        for hook in self._undo_hooks:
            hook()

    # --- writes ---------------------------------------------------------------------------------------------

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(tx, *args)` atomically, committed before this returns (possibly sharing its COMMIT)."""
        calls = self._calls
        if calls is None:
            raise ConnectorError("store.closed", "the store is not open")
        loop = asyncio.get_running_loop()
        call = Call(WRITE, fn, args, loop, loop.create_future())
        calls.put(call)
        try:
            result: T = await call.future
            return result
        except asyncio.CancelledError:
            call.cancelled = True
            raise

    def _serve(self, calls: queue.SimpleQueue[Call | None]) -> None:
        """The writer thread: take what is queued, run it in groups, hand results back; until `None` arrives."""
        while True:
            first = calls.get()
            if first is None:
                return
            group = [first]
            while len(group) < MAX_GROUP:
                try:
                    more = calls.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    calls.put(None)  # finish this group, then stop
                    break
                group.append(more)
            group = [c for c in group if not c.cancelled]
            if group:
                self._group(group)
                hand_back(group, store_error)

    def _group(self, group: list[Call]) -> None:
        pool = self._pool
        if pool is None:
            error = ConnectorError("store.closed", "the store is not open")
            for call in group:
                call.outcome = (False, error)
            return
        done: list[Call] = []
        begin = "BEGIN ISOLATION LEVEL READ COMMITTED" + ("; SAVEPOINT call" if len(group) > 1 else "")
        try:
            conn = self._begin(pool, begin)
        except BaseException as exc:
            for call in group:
                call.outcome = (False, exc)
            return
        try:
            self._write(conn, group, done)
        except BaseException as exc:  # the connection failed outside any one call: nothing of the group is kept
            log.error("store group failed: %s", exc)
            if conn.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
                with contextlib.suppress(psycopg.Error):
                    conn.execute("ROLLBACK")
            self._undone()
            for call in group:
                if call in done or call.outcome[1] is None:
                    call.outcome = (False, exc)
        finally:
            pool.putconn(conn)

    def _begin(self, pool: ConnectionPool[psycopg.Connection[Any]], begin: str) -> psycopg.Connection[Any]:
        """A connection of the pool, in a transaction begun with `begin`. A connection the server ended while it
        sat in the pool (the database restarted, an idle timeout) fails at BEGIN, before anything ran, and is
        replaced: the call never sees it."""
        for _ in range(self.pool_size):
            conn = pool.getconn()
            try:
                conn.execute(begin)
                return conn
            except psycopg.OperationalError:
                pool.putconn(conn)  # a broken one is dropped, and a new one made
                if not conn.broken:
                    raise
        conn = pool.getconn()
        try:
            conn.execute(begin)
        except BaseException:
            pool.putconn(conn)
            raise
        return conn

    def _write(self, conn: psycopg.Connection[Any], group: list[Call], done: list[Call]) -> None:
        """Run `group` in the transaction open on `conn` (with the first call's savepoint when there are several),
        and end it. Each call's savepoint statements travel with the next one's, in one round trip."""
        tx = PostgresTx(conn)
        if len(group) == 1:
            call = group[0]
            try:
                result = call.fn(tx, *call.args)
            except BaseException as exc:
                call.outcome = (False, exc)
                conn.execute("ROLLBACK")
                self._undone()
                return
            conn.execute("COMMIT")
            call.outcome = (True, result)
            return
        for index, call in enumerate(group):
            last = index == len(group) - 1
            try:
                result = call.fn(tx, *call.args)
            except BaseException as exc:
                call.outcome = (False, exc)
                ended = "ROLLBACK TO SAVEPOINT call; RELEASE SAVEPOINT call"
                self._undone()
            else:
                ended = "RELEASE SAVEPOINT call"
                call.outcome = (True, result)
                done.append(call)
            if not last:
                conn.execute(f"{ended}; SAVEPOINT call")
            elif done:
                conn.execute(f"{ended}; COMMIT")
            else:
                conn.execute("ROLLBACK")

    # --- reads ----------------------------------------------------------------------------------------------

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        readers = self._readers
        if readers is None:
            raise ConnectorError("store.closed", "the store is not open")
        try:
            return await asyncio.get_running_loop().run_in_executor(readers, self._read, fn, args)
        except Exception as exc:
            error = store_error(exc)
            if error is exc:
                raise
            raise error from exc

    def _read(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        pool = self._pool
        if pool is None:
            raise ConnectorError("store.closed", "the store is not open")
        conn = self._begin(pool, "BEGIN ISOLATION LEVEL REPEATABLE READ")
        tx = PostgresTx(conn)
        try:
            try:
                return fn(tx, *args)
            finally:
                if conn.info.transaction_status in (TransactionStatus.INTRANS, TransactionStatus.INERROR):
                    conn.execute("ROLLBACK")
                if tx.wrote:
                    self._undone()
        finally:
            pool.putconn(conn)

    async def schema_version(self) -> int:
        return await self.read(lambda tx: schema_version(tx._conn))

    async def healthy(self) -> bool:
        """A round trip to the database through the pool, and the node's lock still held."""
        try:
            answered = await asyncio.wait_for(
                self.read(lambda tx: tx.execute("SELECT 1").fetchone()[0] == 1), HEALTH_TIMEOUT
            )
            return answered and (not self.exclusive or await asyncio.to_thread(self._hold_lock))
        except (StoreError, ConnectorError, TimeoutError):
            return False

    def _hold_lock(self) -> bool:
        """Whether this store still holds NODE_LOCK; when the session that held it is gone (the database restarted),
        the lock is taken again on a new connection, unless another node took it meanwhile."""
        with self._lock_guard:
            conn = self._lock_conn
            if conn is None:
                return False
            try:
                conn.execute("SELECT 1")
                return True
            except psycopg.Error:
                pass
            try:
                fresh = connect(self.url, self.password, self.name)
            except ConnectorError:
                return False
            try:
                taken = _value(fresh.execute("SELECT pg_try_advisory_lock(%s)", [NODE_LOCK]))
            except psycopg.Error:
                taken = False
            if not taken:
                fresh.close()
                log.error("the node lost its lock on %s, and another holds it now", self.name)
                return False
            with contextlib.suppress(psycopg.Error):
                conn.close()
            self._lock_conn = fresh
            log.warning("the node took its lock on %s again (the database's session had ended)", self.name)
            return True


async def open_store(url: str, pool_size: int = 4, password: str | None = None) -> PostgresStore:
    store = PostgresStore(url, pool_size, password)
    await store.open()
    return store
