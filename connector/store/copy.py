"""Copying a node's whole store into another database (SQLite to PostgreSQL, PostgreSQL to SQLite, or the same
kind), evidence log included, in one transaction of the target that commits only once the copy is verified.

A store is named by a `postgresql://` URL or by the path of an SQLite file. The source is read in one read-only
transaction (a consistent snapshot) and never migrated: it must be at the schema version of this program. The
target is migrated first and must hold no row. Rows keep their keys; the counters behind the keys the database
assigns (outbox, verification records, checkpoints) are carried over, so that no key is ever handed out twice.
The evidence records are inserted in order, each checked by the target's chain trigger, so a source whose chain is
broken cannot be copied. Before the COMMIT, every table's row count is compared and the caller verifies the copy's
evidence log (connector.evidence.edge.log_check) in the same transaction.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connector.errors import ConnectorError
from connector.store.errors import StoreConflict, StoreError
from connector.store.interface import Tx
from connector.store.migrations import MIGRATIONS, NODE_LOCK

# Every table of the node but schema_history (each database keeps its own), with its primary key (rows are read in
# its order, a batch at a time), in an order that satisfies every foreign key.
TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("settings", ("key",)),
    ("assets", ("id",)),
    ("policies", ("id",)),
    ("offers", ("id",)),
    ("negotiations", ("id",)),
    ("agreements", ("id",)),
    ("transfers", ("id",)),
    ("process_history", ("process_id", "seq")),
    ("outbox", ("id",)),
    ("received_messages", ("peer_id", "message_id")),
    ("trust_replay", ("issuer", "jti")),
    ("trust_list_copies", ("anchor_sha256",)),
    ("own_credentials", ("id",)),
    ("credential_requests", ("holder_pid",)),
    ("verifications", ("id",)),
    ("data_flows", ("transfer_id",)),
    ("data_digests", ("source_key", "etag")),
    ("content_blobs", ("id",)),
    ("evidence_archives", ("id",)),
    ("evidence_removals", ("archive_id",)),  # empty but while an archive's rows are being removed
    ("evidence_records", ("seq",)),  # in chain order: the target's trigger checks each record against the last
    ("evidence_subjects", ("sha256",)),
    ("evidence_blobs", ("id",)),
    ("evidence_checkpoints", ("id",)),
    ("evidence_timestamps", ("checkpoint_id", "tsa", "serial")),
    ("agreement_signatures", ("agreement_id", "role")),
    ("received_data", ("transfer_id",)),
    ("duty_receipts", ("sha256",)),
    # The replicas that served the node and their claims (a replica killed leaves its row): the first replica to
    # start on the copy finds them gone and takes their work over, as on the original.
    ("replicas", ("id",)),
    ("work_claims", ("name",)),
)
# The keys the database assigns, whose counters a copy carries over.
ASSIGNED_KEYS = {
    "outbox": "id",
    "verifications": "id",
    "evidence_checkpoints": "id",
    "content_blobs": "id",
    "evidence_archives": "id",
    "evidence_blobs": "id",
}
BATCH = 1000


def is_url(target: str | Path) -> bool:
    return str(target).startswith(("postgresql://", "postgres://"))


@dataclass
class Copied:
    tables: dict[str, int] = field(default_factory=dict)  # rows copied per table

    @property
    def rows(self) -> int:
        return sum(self.tables.values())


# --- the two ends -----------------------------------------------------------------------------------------------


def _translated(exc: BaseException) -> BaseException:
    """A driver's error (of either backend) as the store's own."""
    from connector.store import sqlite

    error = sqlite.store_error(exc)
    if error is exc and type(exc).__module__.startswith("psycopg"):
        from connector.store import postgres

        error = postgres.store_error(exc)
    return error


@contextlib.contextmanager
def _store_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        error = _translated(exc)
        if error is exc:
            raise
        raise error from exc


def _locked(row: Any) -> bool:
    return row is not None and bool(row[0])


def schema_version(tx: Tx) -> int:
    """The number of the last migration applied to the store `tx` is on."""
    row = tx.execute("SELECT COALESCE(MAX(version), 0) FROM schema_history").fetchone()
    return int(row[0])


@contextlib.contextmanager
def reading(source: str | Path, password: str | None = None) -> Iterator[Tx]:
    """A read-only transaction on the store `source`, checked to be at this program's schema version, with no node
    starting on it meanwhile (PostgreSQL: the node's lock is held; SQLite: the caller holds the data folder's)."""
    with _store_errors():
        if is_url(source):
            from connector.store import postgres

            with postgres.reading(str(source), password) as tx:
                if not _locked(tx.execute("SELECT pg_try_advisory_lock(?)", [NODE_LOCK]).fetchone()):
                    raise ConnectorError(
                        "store.in_use", f"a node is using {postgres.describe(str(source))}: stop it first", "store.url"
                    )
                try:
                    check_version(tx, postgres.describe(str(source)))
                    yield tx
                finally:  # at once, not when the server ends the session: the node may be started right after
                    with contextlib.suppress(Exception):  # (else the session's end releases it)
                        tx.execute("SELECT pg_advisory_unlock(?)", [NODE_LOCK])
        else:
            from connector.store import sqlite

            path = Path(source)
            if not path.is_file():
                raise ConnectorError("store.missing", f"no store at {path}", "store.path")
            with sqlite.reading(path) as tx:
                check_version(tx, str(path))
                yield tx


def check_version(tx: Tx, name: str) -> None:
    """Refuse a store this program cannot read as it is: one an older version wrote (the node migrates it when it
    starts) or a newer one."""
    version, known = schema_version(tx), MIGRATIONS[-1].version
    if version != known:
        hint = (
            "migrate it first (`connector store migrate`, or start the node once with this program)"
            if version < known
            else "use a newer program"
        )
        raise ConnectorError(
            "store.version", f"the store {name} has schema version {version}, this program {known}: {hint}"
        )


@contextlib.contextmanager
def writing(target: str | Path, password: str | None = None) -> Iterator[Tx]:
    """One write transaction on the store `target` (created and migrated if need be, with no node on it), committed
    when the block ends without an error and rolled back otherwise. A new SQLite file is removed on failure."""
    with _store_errors():
        if is_url(target):
            with _writing_postgres(str(target), password) as tx:
                yield tx
        else:
            with _writing_sqlite(Path(target)) as tx:
                yield tx


@contextlib.contextmanager
def _writing_postgres(url: str, password: str | None) -> Iterator[Tx]:
    from connector.store import postgres

    name = postgres.describe(url)
    conn = postgres.connect(url, password, "the target")
    try:
        if not postgres.take_node_lock(conn):
            raise ConnectorError("store.in_use", f"a node is using {name}", "--to")
        postgres.migrate(conn, name)
        conn.execute("BEGIN")
        try:
            yield postgres.PostgresTx(conn)
        except BaseException:
            with contextlib.suppress(Exception):  # a lost connection rolls back by itself: the cause is what counts
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        postgres.release_node_lock(conn)
        conn.close()


@contextlib.contextmanager
def _writing_sqlite(path: Path) -> Iterator[Tx]:
    from connector.store import sqlite

    created = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite.connect(path)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        sqlite.migrate(conn, str(path))
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield sqlite.SqliteTx(conn)
        except BaseException:
            if conn.in_transaction:  # SQLite rolls back by itself after some errors (a full disk): the cause counts
                conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    except BaseException:
        conn.close()
        if created:
            for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
                leftover.unlink(missing_ok=True)
        raise
    conn.close()


# --- the copy ---------------------------------------------------------------------------------------------------


def occupied(tx: Tx) -> dict[str, int]:
    """The tables of the store that hold rows, with their counts (schema_history aside)."""
    counts = {table: int(tx.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) for table, _ in TABLES}
    return {table: count for table, count in counts.items() if count}


def table_rows(tx: Tx, table: str, key: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """Every row of `table` in key order, each as a dict by column name (read a batch at a time)."""
    for rows in _batches(tx, table, key):
        for row in rows:
            yield dict(row)


def _batches(tx: Tx, table: str, key: tuple[str, ...]) -> Iterator[list[Any]]:
    """The rows of `table` in key order, a batch at a time (keyset pages: no OFFSET to count past)."""
    order = ", ".join(key)
    after: Sequence[Any] | None = None
    while True:
        if after is None:
            rows = tx.execute(f"SELECT * FROM {table} ORDER BY {order} LIMIT ?", [BATCH]).fetchall()
        else:
            marks = ", ".join("?" for _ in key)
            rows = tx.execute(
                f"SELECT * FROM {table} WHERE ({order}) > ({marks}) ORDER BY {order} LIMIT ?", [*after, BATCH]
            ).fetchall()
        if not rows:
            return
        yield rows
        after = [rows[-1][column] for column in key]


def _counter(tx: Tx, table: str, column: str) -> int:
    """The highest key the database has handed out for `table` (0 if none): more than the rows show when the latest
    were deleted (the outbox's, once delivered)."""
    highest = int(tx.execute(f"SELECT COALESCE(MAX({column}), 0) FROM {table}").fetchone()[0])
    if tx.dialect == "sqlite":
        row = tx.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", [table]).fetchone()
    else:  # (NULL where the sequence was never used, or this role may not read it: the rows tell then)
        row = tx.execute(
            "SELECT last_value FROM pg_sequences WHERE schemaname || '.' || sequencename = "
            "pg_get_serial_sequence(CAST(? AS TEXT), CAST(? AS TEXT))",
            [table, column],
        ).fetchone()
    return max(highest, int(row[0]) if row is not None and row[0] is not None else 0)


def _set_counter(tx: Tx, table: str, column: str, value: int) -> None:
    if value <= 0:
        return
    if tx.dialect == "sqlite":
        # Only AUTOINCREMENT keys have a counter; the others continue from the highest key, which the rows hold.
        autoincrement = tx.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ? AND sql LIKE '%AUTOINCREMENT%'", [table]
        ).fetchone()
        if (
            autoincrement
            and tx.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = ?", [value, table]).rowcount == 0
        ):
            tx.execute("INSERT INTO sqlite_sequence(name, seq) VALUES (?, ?)", [table, value])
    else:
        tx.execute(
            "SELECT setval(CAST(pg_get_serial_sequence(CAST(? AS TEXT), CAST(? AS TEXT)) AS regclass), ?)",
            [table, column, value],
        )


def keep_counting(tx: Tx, table: str, column: str) -> None:
    """After rows were inserted with their keys: the keys the database assigns next follow the highest one."""
    _set_counter(tx, table, column, _counter(tx, table, column))


def copy_rows(source: Tx, target: Tx, progress: Callable[[str, int], None] | None = None) -> Copied:
    """Copy every row of `source` into `target`, which must hold none, and check that both count the same."""
    taken = occupied(target)
    if taken:
        listed = ", ".join(f"{table} ({count})" for table, count in taken.items())
        raise ConnectorError("store.not_empty", f"the target already holds rows: {listed}; copy only into an empty one")
    copied = Copied()
    for table, key in TABLES:
        count = 0
        for rows in _batches(source, table, key):
            columns = list(rows[0].keys())
            statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})"
            try:
                target.executemany(statement, [[row[c] for c in columns] for row in rows])
            except Exception as exc:
                error = _translated(exc)
                if isinstance(error, StoreConflict) and table == "evidence_records":
                    raise ConnectorError(
                        "store.broken_chain",
                        f"the source's evidence chain does not hold within records {rows[0]['seq']} to "
                        f"{rows[-1]['seq']} (`connector evidence check` names the first broken link); "
                        "nothing was copied",
                    ) from exc
                raise error from exc
            count += len(rows)
        copied.tables[table] = count
        if table in ASSIGNED_KEYS:
            _set_counter(target, table, ASSIGNED_KEYS[table], _counter(source, table, ASSIGNED_KEYS[table]))
        if progress is not None:
            progress(table, count)
    counted = {table: int(target.execute(f"SELECT count(*) FROM {table}").fetchone()[0]) for table, _ in TABLES}
    if counted != copied.tables:
        differ = [t for t in counted if counted[t] != copied.tables[t]]
        raise StoreError(f"the copy does not count the rows the source has in {', '.join(differ)}")
    return copied


__all__ = [
    "TABLES",
    "Copied",
    "check_version",
    "copy_rows",
    "is_url",
    "keep_counting",
    "occupied",
    "reading",
    "schema_version",
    "table_rows",
    "writing",
]
