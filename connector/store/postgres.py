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

Isolation of writes: READ COMMITTED, with every write transaction taking one advisory lock first (CHAIN_LOCK,
held until it ends), rather than SERIALIZABLE. A write transaction runs functions with effects outside the
database (an appended record moves the chain's head in memory, a step schedules work on the event loop), so it
cannot simply be run again after a serialization failure, which SERIALIZABLE makes routine. With the lock, the
write transactions of every process on the database follow one another, as SQLite's do, and each sees all that
the ones before it committed: two replicas of a node (connector.store.replicas) then cannot both take the step of
one process, start more transfers than an agreement's count allows, or answer one remembered message twice, and
no two write transactions wait for each other's rows (no deadlocks). The evidence chain's trigger takes the same
lock (so does any other process appending) and checks each new record against the committed head, so the
processes appending make one chain; a loser of that race (a head kept in memory that another replica moved on) is
refused, and its journal re-reads the head and appends again (connector.evidence.edge.journal). Reads do not take
it. Writes from several replicas therefore do not run at the same time; what replicas share out is everything
around them (TLS, verification, policy decisions, reads, messages in flight).

Which processes may use the database: the replicas of one node (`node`), sharing a session advisory lock
(NODE_LOCK) from open to close, the database recording which node it belongs to (a replica of another node is
refused); or one program alone (no `node`: the lock taken exclusively, as `connector store copy` and the store's
tools do, which are therefore refused while any replica runs, and keep replicas out while they work).

Connections: at most `pool_size` in the pool (one for the writer, the rest for readers), one more that holds
NODE_LOCK, and for a replica one that listens for the others. One that the server ended while it sat in the pool (a
restart, an idle timeout) fails at BEGIN, before anything ran, and is replaced there; `healthy()` is a round trip,
and takes NODE_LOCK again after a restart.

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
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import psycopg
import psycopg.errors
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool, PoolTimeout

from connector.errors import ConnectorError
from connector.store.calls import WRITE, Call, hand_back, next_group, submit
from connector.store.coordination import SOLO
from connector.store.errors import StoreConflict, StoreError, StoreUnavailable, StoreUnwritable
from connector.store.interface import Coordination
from connector.store.migrations import CHAIN_LOCK, MIGRATION_LOCK, MIGRATIONS, NODE_LOCK

T = TypeVar("T")
log = logging.getLogger("connector.store")

CONNECT_TIMEOUT = 10  # seconds to reach the server
POOL_TIMEOUT = 10.0  # seconds a call waits for a connection of the pool before it fails as unavailable
HEALTH_TIMEOUT = 5.0
# Seconds a starting node waits for NODE_LOCK: the session of a node that just stopped or died may still hold it
# for a moment (the server ends a session after its client has gone).
LOCK_WAIT = 5.0
NODE_SETTING = "node.participant_id"  # the node a database belongs to (the settings table)
# What a replica's sessions ask of the server: notice a client gone silent (its machine lost, the network cut)
# within about half a minute, and never keep a transaction open that long, so that the lock every write takes
# (CHAIN_LOCK) is not held for the others by a replica that is gone.
REPLICA_SESSION = (
    "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3 "
    "-c idle_in_transaction_session_timeout=30000"
)
WRITE_BEGIN = f"BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({CHAIN_LOCK})"
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
# The server cannot keep anything until someone acts: disk full, I/O error, a read-only server (a standby).
_UNWRITABLE_STATES = frozenset({"53100", "58030", "25006"})


def store_error(exc: BaseException, where: str | None = None) -> BaseException:
    """`exc` as the store's own error when it is psycopg's or the pool's (its cause kept), naming the store
    `where` (its URL without password); anything else unchanged."""
    kind: type[StoreError]
    if isinstance(exc, PoolTimeout):
        kind = StoreUnavailable
    elif isinstance(exc, psycopg.Error):
        state = exc.sqlstate or ""
        if isinstance(exc, psycopg.errors.IntegrityError) or state.startswith("23"):
            kind = StoreConflict
        elif state in _UNWRITABLE_STATES:
            kind = StoreUnwritable
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
    text = str(exc).strip()
    error = kind(f"{text} ({where})" if where else text)
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
        # but not by psycopg. A refusal whose answer arrives while the block still sends (an evidence record that
        # another replica's append got ahead of, say) is kept until the pipeline has ended, and raised then: the
        # pipeline is not left with an error on its way out, which psycopg would log as one it ignored.
        conn = self._conn
        self.wrote = True  # (what the block's statements changed is not known in a pipeline: assume they wrote)
        outer, self._prepare = self._prepare, False
        refused: psycopg.Error | None = None
        try:
            try:
                with conn.pipeline():
                    conn.execute("SAVEPOINT attempt", prepare=False)
                    try:
                        yield
                        conn.execute("RELEASE SAVEPOINT attempt", prepare=False)
                    except psycopg.Error as exc:
                        refused = exc
            except psycopg.Error as exc:  # the refusal, or the statements it aborted
                refused = refused or exc
            if refused is not None:
                raise refused
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


def _parameters(password: str | None, replica: str | None = None) -> dict[str, Any]:
    """What every connection of the store is opened with (besides the URL); a replica's name is a setting of each
    of its sessions (`connector.replica`, which the triggers that tell the other replicas put in their messages)."""
    extra: dict[str, Any] = {"password": password} if password else {}  # else the URL's, or PGPASSWORD / PGPASSFILE
    if replica is not None:
        extra["options"] = f"-c connector.replica={replica} {REPLICA_SESSION}"
        extra.update(keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3)
    return {
        "autocommit": True,
        "row_factory": _rows,
        "connect_timeout": CONNECT_TIMEOUT,
        "application_name": f"connector {replica}"[:63] if replica else "connector",
        **extra,
    }


def connect(
    url: str, password: str | None = None, name: str = "the store", replica: str | None = None
) -> psycopg.Connection[Any]:
    """A connection as the store uses one: transactions begun and ended explicitly, rows by position and name."""
    try:
        return psycopg.Connection.connect(url, **_parameters(password, replica))
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConnectorError("store.open", f"cannot connect to {name} {describe(url)}: {reason}", "store.url") from None


def schema_version(conn: psycopg.Connection[Any]) -> int:
    """The highest migration applied to the database (0 for an empty one)."""
    if _value(conn.execute("SELECT to_regclass('schema_history')")) is None:
        return 0
    return int(_value(conn.execute("SELECT COALESCE(MAX(version), 0) FROM schema_history")))


def migrate(conn: psycopg.Connection[Any], name: str = "the store", create: bool = True) -> None:
    """Apply the migrations the database has not seen yet, each in a transaction of its own; one process at a time
    (MIGRATION_LOCK), so that two nodes or tools starting together do not both apply one."""
    conn.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK])
    try:
        current = schema_version(conn)
        known = MIGRATIONS[-1].version if MIGRATIONS else 0
        if current == 0 and not create:  # the node knows a store existed here: do not start a new one
            raise ConnectorError("store.empty", f"{name} is empty", "store.url")
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


def take_node_lock(conn: psycopg.Connection[Any], wait: float = 0.0, shared: bool = False) -> bool:
    """Take NODE_LOCK for the session of `conn` (shared by a node's replicas, else for this program alone; trying
    again for `wait` seconds); whether it was taken."""
    take = "SELECT pg_try_advisory_lock_shared(%s)" if shared else "SELECT pg_try_advisory_lock(%s)"
    deadline = time.monotonic() + wait
    while True:
        if _value(conn.execute(take, [NODE_LOCK])):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)


def release_node_lock(conn: psycopg.Connection[Any], shared: bool = False) -> None:
    """Give NODE_LOCK up now (closing the connection alone releases it only once the server has ended the
    session, a moment later: a node started at once could find it still taken)."""
    if conn.info.transaction_status == TransactionStatus.IDLE:
        with contextlib.suppress(psycopg.Error):
            unlock = "SELECT pg_advisory_unlock_shared(%s)" if shared else "SELECT pg_advisory_unlock(%s)"
            conn.execute(unlock, [NODE_LOCK])


def bind_node(conn: psycopg.Connection[Any], node: str, name: str = "the store") -> None:
    """Record that the database belongs to `node` (the first node to open it), or refuse another node's replica."""
    conn.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK])
    try:
        row = conn.execute("SELECT value FROM settings WHERE key = %s", [NODE_SETTING]).fetchone()
        if row is None:
            conn.execute("INSERT INTO settings(key, value) VALUES (%s, %s)", [NODE_SETTING, node])
        elif row[0] != node:
            raise ConnectorError(
                "store.in_use",
                f"{name} belongs to the node {row[0]}, not to {node}: each node needs a database of its own "
                "(only the replicas of one node share one)",
                "store.url",
            )
    finally:
        if conn.info.transaction_status == TransactionStatus.IDLE:
            conn.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK])


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
    """The node's store in PostgreSQL. `pool_size` connections at most: one writes, the others read.

    With `node` (a participant id), this process is one replica of that node: the database may be shared with
    other replicas of the same node (connector.store.replicas: `coordination`), never with another node. Without,
    the program has the database to itself (NODE_LOCK taken exclusively)."""

    def __init__(
        self,
        url: str,
        pool_size: int = 4,
        password: str | None = None,
        lock_wait: float = LOCK_WAIT,
        create: bool = True,  # False: an empty database is refused (store.empty) instead of given the tables
        node: str | None = None,
        lease: float = 5.0,
        sweep_interval: float = 60.0,
    ) -> None:
        self.url = url
        self.create = create
        self.pool_size = max(2, pool_size)
        self.password = password
        self.lock_wait = lock_wait
        self.node = node
        self.lease = lease
        self.sweep_interval = sweep_interval
        self.name = f"the store {describe(url)}"
        self._translate = functools.partial(store_error, where=self.name)
        self.replica: str | None = None
        if node is not None:
            from connector.store.replicas import replica_name

            self.replica = replica_name()
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = None
        self._lock_conn: psycopg.Connection[Any] | None = None
        self._calls: queue.SimpleQueue[Call | None] | None = None
        self._writer: threading.Thread | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._undo_hooks: list[Callable[[], None]] = []
        self._lock_guard = threading.Lock()
        self._replicas: Any = None  # connector.store.replicas.Replicas, for a node's replica
        self._at_begin: list[tuple[str, Callable[[Any], None]]] = []

    @property
    def shared(self) -> bool:
        """Whether other replicas of the node may use the database too."""
        return self.node is not None

    @property
    def coordination(self) -> Coordination:
        return self._replicas if self._replicas is not None else SOLO

    # --- lifecycle ------------------------------------------------------------------------------------------

    async def open(self) -> None:
        try:
            await asyncio.to_thread(self._open_sync)
        except Exception as exc:
            error = self._translate(exc)
            if error is exc:
                raise
            raise error from exc
        self._calls = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._serve, args=(self._calls,), name="store-writer", daemon=True)
        self._writer.start()
        self._readers = ThreadPoolExecutor(self.pool_size - 1, thread_name_prefix="store-reader")
        if self.replica is not None:
            from connector.store.replicas import Replicas

            replicas = Replicas(self, self.replica, self.lease, self.sweep_interval)
            try:
                await replicas.open()
            except BaseException:
                await self.close()
                raise
            self._replicas = replicas

    def _open_sync(self) -> None:
        conn = connect(self.url, self.password, self.name, self.replica)
        try:
            if not take_node_lock(conn, self.lock_wait, shared=self.shared):
                raise ConnectorError(
                    "store.in_use",
                    f"another program has {self.name} to itself (connector store copy?); stop it first"
                    if self.shared
                    else f"another node is using {self.name}; each node needs a database of its own",
                    "store.url",
                )
            migrate(conn, self.name, self.create)
            if self.node is not None:
                bind_node(conn, self.node, self.name)
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
            kwargs=_parameters(self.password, self.replica),
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

    def connect_listener(self) -> psycopg.Connection[Any]:
        """A connection of its own for listening to the other replicas (ConnectorError when it cannot be made)."""
        return connect(self.url, self.password, self.name, self.replica)

    def notify(self, channel: str, payload: str) -> Future[None]:
        """Send a notification now, on a connection of the pool outside any transaction (a reader's thread)."""
        readers, pool = self._readers, self._pool
        if readers is None or pool is None:
            raise ConnectorError("store.closed", "the store is not open")

        def send() -> None:
            conn = pool.getconn()
            try:
                conn.execute("SELECT pg_notify(%s, %s)", [channel, payload])
            finally:
                pool.putconn(conn)

        return readers.submit(send)

    async def close(self) -> None:
        replicas, self._replicas = self._replicas, None
        if replicas is not None:
            await replicas.close()  # (its claims and registration given up while the store still works)
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
            release_node_lock(self._lock_conn, self.shared)
            self._lock_conn.close()
            self._lock_conn = None

    def at_write_begin(self, query: str, hook: Callable[[Any], None]) -> None:
        """For a replica (other processes write to the database too): run `query` at the start of every write
        transaction, once the write lock is taken, in the BEGIN's round trip, and hand `hook` its first row (None
        when it has none) on the writer thread, before the transaction's functions run."""
        self._at_begin.append((query, hook))

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
            raise ConnectorError("store.closed", f"{self.name} is not open (the node is stopping)")
        return await submit(calls, WRITE, fn, args)

    def _serve(self, calls: queue.SimpleQueue[Call | None]) -> None:
        """The writer thread: take what is queued, run it in groups, hand results back; until `None` arrives."""
        while (group := next_group(calls)) is not None:
            if group:
                self._group(group)
                hand_back(group, self._translate)

    def _group(self, group: list[Call]) -> None:
        pool = self._pool
        if pool is None:
            error = ConnectorError("store.closed", f"{self.name} is not open (the node is stopping)")
            for call in group:
                call.outcome = (False, error)
            return
        done: list[Call] = []
        begin = WRITE_BEGIN + ("; SAVEPOINT call" if len(group) > 1 else "")
        hooks = self._at_begin if self.shared else []
        begin += "".join(f"; {query}" for query, _ in hooks)
        try:
            conn, cursor = self._begin(pool, begin)
        except BaseException as exc:
            for call in group:
                call.outcome = (False, exc)
            return
        try:
            if hooks:
                self._begun(cursor, hooks)
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

    def _begin(
        self, pool: ConnectionPool[psycopg.Connection[Any]], begin: str
    ) -> tuple[psycopg.Connection[Any], psycopg.Cursor[Any]]:
        """A connection of the pool, in a transaction begun with `begin` (and the cursor of its statements). A
        connection the server ended while it sat in the pool (the database restarted, an idle timeout) fails at
        BEGIN, before anything ran, and is replaced: the call never sees it."""
        for _ in range(self.pool_size):
            conn = pool.getconn()
            try:
                return conn, conn.execute(begin)
            except psycopg.OperationalError:
                pool.putconn(conn)  # a broken one is dropped, and a new one made
                if not conn.broken:
                    raise
        conn = pool.getconn()
        try:
            return conn, conn.execute(begin)
        except BaseException:
            pool.putconn(conn)
            raise

    @staticmethod
    def _begun(cursor: psycopg.Cursor[Any], hooks: list[tuple[str, Callable[[Any], None]]]) -> None:
        """Hand each `at_write_begin` hook the first row of its query (the last statements of the BEGIN)."""
        rows = []
        while True:
            rows.append(cursor.fetchone() if cursor.description is not None else None)
            if not cursor.nextset():
                break
        for (_, hook), row in zip(hooks, rows[-len(hooks) :], strict=True):
            hook(row)

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
            raise ConnectorError("store.closed", f"{self.name} is not open (the node is stopping)")
        try:
            return await asyncio.get_running_loop().run_in_executor(readers, self._read, fn, args)
        except Exception as exc:
            error = self._translate(exc)
            if error is exc:
                raise
            raise error from exc

    def _read(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        pool = self._pool
        if pool is None:
            raise ConnectorError("store.closed", f"{self.name} is not open (the node is stopping)")
        conn, _ = self._begin(pool, "BEGIN ISOLATION LEVEL REPEATABLE READ")
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
        """A round trip to the database through the pool, the node's lock still held, and for a replica its lease
        renewed within the lease (else its work is being taken over, and a load balancer should turn away)."""
        try:
            answered = await asyncio.wait_for(
                self.read(lambda tx: tx.execute("SELECT 1").fetchone()[0] == 1), HEALTH_TIMEOUT
            )
            return answered and self.coordination.healthy() and await asyncio.to_thread(self._hold_lock)
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
                fresh = connect(self.url, self.password, self.name, self.replica)
            except ConnectorError:
                return False
            try:
                taken = take_node_lock(fresh, shared=self.shared)
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
    """The store at `url`, open, for this program alone."""
    store = PostgresStore(url, pool_size, password)
    await store.open()
    return store
