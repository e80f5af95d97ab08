"""SQL source: one read-only query against a SQLite database, streamed as CSV or JSON lines.

Data address::

    {"type": "sql", "database": "warehouse.sqlite", "root": "default",
     "query": "SELECT * FROM sales WHERE region = :region", "parameters": {"region": "EU"}, "format": "csv",
     "timeout": 300}

The database is confined exactly like a file source's path: relative to a configured data root (named by `root`,
default "default"), no `..`, no absolute path, no symbolic link anywhere on the way, a regular file; the file
opened is checked to be the one so found, and the node's own store is never served even if it lies below a root.

Nothing the query does can change the database, by four independent locks: the file is opened read-only
(``mode=ro``), ``PRAGMA query_only`` is on, an authorizer allows nothing but reading (refusing at prepare time, so
before anything runs), and the compiled program is inspected the way ``sqlite3_stmt_readonly`` does (which also
catches ``VACUUM INTO``, a statement the authorizer is never asked about). ATTACH is impossible (limit 0).
Parameters are always bound, never formatted into the SQL.

Rows are produced by a worker thread with its own connection and handed over at most `BUFFERED_CHUNKS` chunks
ahead of the consumer: a slow receiver makes the thread wait. Closing the stream stops the thread (the progress
handler aborts a running step) and closes the connection before `aclose` returns.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from connector.errors import Problem
from connector.sources.base import (
    CHUNK_SIZE,
    DataStream,
    SourceContext,
    SourceError,
    StreamInfo,
    unsupported_range,
)
from connector.sources.fields import (
    check_media_type,
    check_seconds,
    check_string,
    invalid,
    unknown_fields,
)
from connector.sources.rows import FORMATS, RowEncoder, encoder_for
from connector.sources.safepath import open_beneath, open_root, path_problems, split_path
from connector.web.ranges import ByteRange

KIND = "sql"
BUFFERED_CHUNKS = 2
FIRST_BATCH = 64
MAX_BATCH = 4096
DEFAULT_TIMEOUT = 300.0
PROGRESS_STEPS = 1000  # SQLite VM instructions between checks for a stop request or the timeout
CLOSE_WAIT = 30.0
_FIELDS = frozenset({"type", "database", "root", "query", "parameters", "format", "mediaType", "timeout"})
DEFAULT_ROOT = "default"

_ALLOWED_ACTIONS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)
# Functions that reach outside the query even when reading (extension loading is also disabled on the connection).
_DENIED_FUNCTIONS = frozenset({"load_extension", "fts3_tokenizer"})
_ACTION_NAMES = {
    getattr(sqlite3, f"SQLITE_{name}"): name.lower().replace("_", " ")
    for name in (
        "CREATE_INDEX",
        "CREATE_TABLE",
        "CREATE_TEMP_INDEX",
        "CREATE_TEMP_TABLE",
        "CREATE_TEMP_TRIGGER",
        "CREATE_TEMP_VIEW",
        "CREATE_TRIGGER",
        "CREATE_VIEW",
        "DELETE",
        "DROP_INDEX",
        "DROP_TABLE",
        "DROP_TEMP_INDEX",
        "DROP_TEMP_TABLE",
        "DROP_TEMP_TRIGGER",
        "DROP_TEMP_VIEW",
        "DROP_TRIGGER",
        "DROP_VIEW",
        "INSERT",
        "PRAGMA",
        "READ",
        "SELECT",
        "TRANSACTION",
        "UPDATE",
        "ATTACH",
        "DETACH",
        "ALTER_TABLE",
        "REINDEX",
        "ANALYZE",
        "CREATE_VTABLE",
        "DROP_VTABLE",
        "FUNCTION",
        "SAVEPOINT",
        "RECURSIVE",
    )
    if hasattr(sqlite3, f"SQLITE_{name}")
}
# Opcodes after which sqlite3_stmt_readonly() is false (besides a write Transaction): the statement writes.
_WRITING_OPCODES = frozenset({"Vacuum", "JournalMode", "Checkpoint", "VUpdate", "VCreate", "VDestroy", "OpenWrite"})

log = logging.getLogger(__name__)


# --- configuration -----------------------------------------------------------------------------------------


def validate_source_config(config: Mapping[str, Any]) -> list[Problem]:
    problems = unknown_fields(config, _FIELDS)
    problems += check_string(config, "database", "the database file", required=True)
    if isinstance(config.get("database"), str) and config["database"]:
        problems += [
            Problem(
                p.code.replace("source.file.", "source.sql."),
                p.reason.replace("the path", "the database path"),
                p.where,
            )
            for p in path_problems(config["database"], "database")
        ]
    if "root" in config and not isinstance(config["root"], str):
        problems.append(invalid("root", "root must name a configured data root"))
    problems += check_string(config, "query", "the query", required=True)
    if "parameters" in config:
        problems += _parameter_problems(config["parameters"])
    fmt = config.get("format", "csv")
    if fmt not in FORMATS:
        problems.append(invalid("format", f"format must be one of {', '.join(sorted(FORMATS))}"))
    if "timeout" in config:
        problems += check_seconds(config["timeout"], "timeout")
    problems += check_media_type(config)
    return problems


def _parameter_problems(value: Any) -> list[Problem]:
    if isinstance(value, Mapping):
        items = [(f"parameters.{k}", k, v) for k, v in value.items()]
        problems = [
            invalid(where, "a named parameter must be an identifier")
            for where, k, _ in items
            if not isinstance(k, str) or not k.isidentifier()
        ]
    elif isinstance(value, list):
        items = [(f"parameters.{i}", i, v) for i, v in enumerate(value)]
        problems = []
    else:
        return [invalid("parameters", "parameters must be a list (for ?) or an object (for :name)")]
    for where, _, v in items:
        if v is not None and not isinstance(v, (str, int, float)):
            problems.append(invalid(where, "a parameter must be a string, number, boolean or null"))
    return problems


def build_source(config: Mapping[str, Any], context: SourceContext) -> SqlSource:
    problems = validate_source_config(config)
    if problems:
        raise SourceError(problems[0].code, problems[0].reason, problems[0].where)
    root_name = config.get("root", DEFAULT_ROOT)
    root = context.file_roots.get(root_name)
    if root is None:
        raise SourceError(
            "source.sql.no_root",
            f"no data root named '{root_name}' is configured; SQL databases are read only below a data root",
            "root",
        )
    parameters = config.get("parameters", [])
    return SqlSource(
        database=ConfinedDatabase(Path(root), split_path(config["database"]), tuple(context.protected_files)),
        query=config["query"],
        parameters=dict(parameters) if isinstance(parameters, Mapping) else list(parameters),
        fmt=config.get("format", "csv"),
        media_type=config.get("mediaType"),
        timeout=float(config.get("timeout", DEFAULT_TIMEOUT)),
    )


# --- the read-only connection ----------------------------------------------------------------------------------


class _Guard:
    """The authorizer: reading only. Remembers the first refused action so the reason can name it."""

    def __init__(self) -> None:
        self.refused: str | None = None

    def __call__(self, action: int, arg1: str | None, arg2: str | None, db: str | None, origin: str | None) -> int:
        if action in _ALLOWED_ACTIONS:
            if action != sqlite3.SQLITE_FUNCTION or (arg2 or "").lower() not in _DENIED_FUNCTIONS:
                return sqlite3.SQLITE_OK
        if self.refused is None:
            what = _ACTION_NAMES.get(action, f"action {action}")
            # Where SQLite puts the object's name depends on the action.
            target = arg2 if action in (sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_ALTER_TABLE) else arg1
            self.refused = f"{what} '{target}'" if target else what
        return sqlite3.SQLITE_DENY


@dataclass(frozen=True)
class ConfinedDatabase:
    """A database file below a data root, as an asset names it."""

    root: Path
    parts: tuple[str, ...]
    protected: tuple[Path, ...] = ()  # files never served (the node's own store)

    @property
    def shown(self) -> str:
        return "/".join(self.parts)

    def check(self) -> tuple[int, int]:
        """(device, inode) of the regular file the parts name below the root, followed without any link; refuses
        the protected files."""
        root_fd = open_root(self.root)
        try:
            fd, st = open_beneath(root_fd, self.parts, self.shown)
            os.close(fd)
        except SourceError as exc:
            code = "source.sql.unavailable" if exc.code == "source.file.not_found" else exc.code
            raise SourceError(code.replace("source.file.", "source.sql."), exc.reason, "database") from None
        finally:
            os.close(root_fd)
        if stat.S_ISDIR(st.st_mode):
            raise SourceError("source.sql.not_regular", f"'{self.shown}' is a folder, not a database", "database")
        for protected in self.protected:
            try:
                other = os.stat(protected)
            except OSError:
                continue
            if (other.st_dev, other.st_ino) == (st.st_dev, st.st_ino):
                raise SourceError("source.sql.forbidden", f"'{self.shown}' is the node's own store", "database")
        return st.st_dev, st.st_ino


def connect_read_only(database: ConfinedDatabase) -> tuple[sqlite3.Connection, _Guard]:
    """A connection that can only read the confined database; raises SourceError when it cannot be opened so, or
    when the file opened is not the one checked (it was replaced meanwhile)."""
    checked = database.check()
    path = database.root.joinpath(*database.parts)
    uri = "file:" + quote(str(path.absolute())) + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=5.0)
    except sqlite3.Error:
        raise SourceError("source.sql.unavailable", "the database cannot be opened read-only", "database") from None
    try:
        conn.execute("PRAGMA schema_version")  # SQLite opens the file now
        if database.check() != checked:
            raise SourceError("source.sql.changed", "the database file was replaced while it was opened", "database")
    except sqlite3.Error:
        conn.close()
        raise SourceError("source.sql.unavailable", "the database cannot be opened read-only", "database") from None
    except SourceError:
        conn.close()
        raise
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        guard = _Guard()
        conn.set_authorizer(guard)
    except sqlite3.Error:
        conn.close()
        raise SourceError("source.sql.unavailable", "the database cannot be opened read-only", "database") from None
    return conn, guard


def vet_query(
    conn: sqlite3.Connection,
    guard: _Guard,
    query: str,
    parameters: Sequence[Any] | Mapping[str, Any],
    *,
    detailed: bool = False,
) -> None:
    """Compile the query without running it and refuse it unless it only reads. Raises SourceError; `detailed`
    puts SQLite's own message in the reason (for the operator, not for a peer)."""
    try:
        program = conn.execute("EXPLAIN " + query, parameters).fetchall()
    except sqlite3.Error as exc:
        raise _query_error(exc, guard, detailed=detailed) from None
    for row in program:
        opcode, p2 = row[1], row[3]
        if opcode in _WRITING_OPCODES or (opcode == "Transaction" and p2 != 0):
            raise SourceError(
                "source.sql.not_read_only", f"the query is not read-only (it compiles to {opcode})", "query"
            )


def _query_error(exc: sqlite3.Error, guard: _Guard, *, detailed: bool) -> SourceError:
    if guard.refused is not None:
        return SourceError("source.sql.not_read_only", f"the query is not read-only ({guard.refused})", "query")
    if isinstance(exc, sqlite3.ProgrammingError):
        # Several statements, or parameters that do not match the placeholders.
        reason = "the query must be a single statement whose placeholders match the parameters"
        return SourceError("source.sql.invalid", f"{reason} ({exc})" if detailed else reason, "query")
    log.warning("SQL source query failed: %s", exc)
    reason = "the query failed"
    return SourceError(
        "source.sql.failed", f"{reason}: {exc}" if detailed else f"{reason} ({type(exc).__name__})", "query"
    )


def check_query(config: Mapping[str, Any], context: SourceContext) -> list[Problem]:
    """Blocking (run it in a thread): open the database read-only and compile the query, running nothing.
    For the management API and config loader, so a write or a typo is refused when the asset is created."""
    problems = validate_source_config(config)
    if problems:
        return problems
    source = build_source(config, context)
    try:
        conn, guard = connect_read_only(source.database)
    except SourceError as exc:
        return [exc.problem]
    try:
        vet_query(conn, guard, source.query, source.parameters, detailed=True)
    except SourceError as exc:
        return [exc.problem]
    finally:
        conn.close()
    return []


# --- streaming -------------------------------------------------------------------------------------------------


class SqlSource:
    kind = KIND
    seekable = False  # a query's rows need not come out the same twice, so a range of them means nothing

    def __init__(
        self,
        database: ConfinedDatabase,
        query: str,
        parameters: Sequence[Any] | Mapping[str, Any],
        fmt: str = "csv",
        media_type: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self.database = database
        self.query = query
        self.parameters = parameters
        self.fmt = fmt
        self._media_type = media_type
        self.timeout = timeout

    async def open(self, byte_range: ByteRange | None = None) -> DataStream:
        if byte_range is not None and (byte_range.start != 0 or byte_range.stop is not None):
            raise unsupported_range("query result")
        run = _Run(self, asyncio.get_running_loop())
        run.start()
        try:
            media_type = await run.ready()
        except BaseException:
            await run.stop()
            raise
        info = StreamInfo(media_type=self._media_type or media_type)
        return DataStream(info, run.chunks(), run.stop)


class _Stopped(Exception):
    """The consumer went away; the worker unwinds quietly."""


class _Run:
    """One execution: a worker thread producing chunks, and the loop side consuming them."""

    def __init__(self, source: SqlSource, loop: asyncio.AbstractEventLoop) -> None:
        self._source = source
        self._loop = loop
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._credits = threading.Semaphore(BUFFERED_CHUNKS)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._work, name="sql-source", daemon=True)
        self._last_progress = time.monotonic()
        self._timed_out = False

    # loop side

    def start(self) -> None:
        self._thread.start()

    async def ready(self) -> str:
        kind, value = await self._queue.get()
        if kind == "error":
            raise value
        return str(value)

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            kind, value = await self._queue.get()
            if kind == "chunk":
                self._credits.release()
                yield value
            elif kind == "end":
                return
            else:
                raise value

    async def stop(self) -> None:
        self._stop.set()
        self._credits.release()  # wakes a worker waiting for room
        if self._thread.is_alive():
            # The progress handler makes the worker notice within PROGRESS_STEPS instructions.
            await asyncio.to_thread(self._thread.join, CLOSE_WAIT)
            if self._thread.is_alive():
                log.warning("SQL source worker did not stop within %s s", CLOSE_WAIT)

    # worker side

    def _post(self, kind: str, value: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, (kind, value))
        except RuntimeError:  # the loop is gone: nobody is listening any more
            self._stop.set()
            raise _Stopped() from None

    def _progress(self) -> int:
        if self._stop.is_set():
            return 1
        if time.monotonic() - self._last_progress > self._source.timeout:
            self._timed_out = True
            return 1
        return 0

    def _work(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            conn, guard = connect_read_only(self._source.database)
            conn.set_progress_handler(self._progress, PROGRESS_STEPS)
            self._produce(conn, guard)
        except _Stopped:
            pass
        except SourceError as exc:
            self._post_quietly("error", exc)
        except Exception as exc:  # the thread's boundary: anything else must still reach the consumer
            log.exception("SQL source worker failed")
            failure = SourceError("source.sql.failed", f"the query failed ({type(exc).__name__})", "query")
            self._post_quietly("error", failure)
        finally:
            if conn is not None:
                conn.close()

    def _post_quietly(self, kind: str, value: Any) -> None:
        try:
            self._post(kind, value)
        except _Stopped:
            pass

    def _produce(self, conn: sqlite3.Connection, guard: _Guard) -> None:
        source = self._source
        try:
            vet_query(conn, guard, source.query, source.parameters)
            self._last_progress = time.monotonic()
            cursor = conn.execute(source.query, source.parameters)
        except sqlite3.Error as exc:
            raise self._failure(exc, guard) from None
        encoder: RowEncoder = encoder_for(source.fmt, [d[0] for d in cursor.description or ()])
        self._post("ready", encoder.media_type)
        buffer = bytearray(encoder.header())
        batch = FIRST_BATCH
        while True:
            try:
                rows = cursor.fetchmany(batch)
            except sqlite3.Error as exc:
                raise self._failure(exc, guard) from None
            if not rows:
                break
            encoded = encoder.encode_rows(rows)
            buffer += encoded
            while len(buffer) >= CHUNK_SIZE:
                self._send(bytes(buffer[:CHUNK_SIZE]))
                del buffer[:CHUNK_SIZE]
            self._last_progress = time.monotonic()
            # Size batches to about a quarter chunk so the buffer stays near one chunk whatever the row width.
            batch = max(1, min(MAX_BATCH, (CHUNK_SIZE // 4) * len(rows) // max(1, len(encoded))))
        if buffer:
            self._send(bytes(buffer))
        self._post("end", None)

    def _send(self, chunk: bytes) -> None:
        self._credits.acquire()
        if self._stop.is_set():
            raise _Stopped()
        self._post("chunk", chunk)
        self._last_progress = time.monotonic()

    def _failure(self, exc: sqlite3.Error, guard: _Guard) -> BaseException:
        if self._stop.is_set():
            return _Stopped()
        if self._timed_out:
            return SourceError(
                "source.sql.timeout", f"the query produced no row for {self._source.timeout:g} seconds", "query"
            )
        return _query_error(exc, guard, detailed=False)
