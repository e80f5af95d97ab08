from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from connector.sources import (
    CHUNK_SIZE,
    DataStream,
    SourceContext,
    SourceError,
    build_source,
    validate_source_config,
)
from connector.sources.sql import BUFFERED_CHUNKS, SqlSource, check_query
from connector.web.ranges import ByteRange

ROWS = [
    (1, "plain", 1.5, b"\x00\x01", None),
    (2, 'Z\u00fcrich, "quoted"\nline', -0.1, None, "ok"),
    (3, "\u65e5\u672c", 1e20, b"", ""),
]
ENDLESS = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x, printf('%.500c', 'r') AS pad FROM c"
)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL, data BLOB, note TEXT)")
    conn.executemany("INSERT INTO items VALUES (?, ?, ?, ?, ?)", ROWS)
    conn.execute("CREATE INDEX items_by_name ON items (name)")  # so that REINDEX would have work to do
    conn.execute("CREATE TABLE many (n INTEGER, label TEXT)")
    conn.execute(
        "INSERT INTO many WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c WHERE i < 59999) "
        "SELECT i, printf('label-%06d-', i) || replace(zeroblob(40), x'00', 'x') FROM c"
    )
    conn.commit()
    conn.close()
    return path


def _source(database: Path, query: str, **extra: Any) -> SqlSource:
    context = SourceContext(file_roots={"default": database.parent})
    source = build_source({"type": "sql", "database": database.name, "query": query, **extra}, context)
    assert isinstance(source, SqlSource)
    return source


def _fingerprint(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _sql_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "sql-source"]


async def _wait_no_sql_threads() -> None:
    for _ in range(100):
        if not _sql_threads():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the SQL worker thread is still running")


# --- what is streamed --------------------------------------------------------------------------------------------


async def test_csv_has_a_header_row_and_encodes_nulls_unicode_and_blobs(database: Path) -> None:
    stream = await _source(database, "SELECT * FROM items ORDER BY id").open()
    data = await stream.read_all()
    assert stream.info.media_type == "text/csv; charset=utf-8; header=present"
    assert stream.info.size is None
    assert data == (
        'id,name,price,data,note\r\n1,plain,1.5,AAE=,\r\n2,"Z\u00fcrich, ""quoted""\nline",-0.1,,ok\r\n'
        "3,\u65e5\u672c,1e+20,,\r\n"
    ).encode("utf-8")
    parsed = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert parsed[2][1] == ROWS[1][1]


async def test_json_lines_keep_nulls_unicode_and_carry_blobs_as_base64(database: Path) -> None:
    stream = await _source(database, "SELECT * FROM items ORDER BY id", format="jsonl").open()
    data = await stream.read_all()
    assert stream.info.media_type == "application/jsonl"
    lines = data.decode("utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"id": 1, "name": "plain", "price": 1.5, "data": "AAE=", "note": None},
        {"id": 2, "name": ROWS[1][1], "price": -0.1, "data": None, "note": "ok"},
        {"id": 3, "name": "\u65e5\u672c", "price": 1e20, "data": "", "note": ""},
    ]
    assert "\u65e5\u672c".encode("utf-8") in data  # not \u-escaped


async def test_infinite_reals_become_strings_in_json_lines(database: Path) -> None:
    stream = await _source(database, "SELECT 1e999 AS up, -1e999 AS down", format="jsonl").open()
    assert json.loads(await stream.read_all()) == {"up": "Infinity", "down": "-Infinity"}


async def test_parameters_are_bound_never_spliced_into_the_sql(database: Path, tmp_path: Path) -> None:
    before = _fingerprint(tmp_path)
    hostile = "x'; DROP TABLE items; --"
    named = await _source(database, "SELECT id FROM items WHERE name = :n", parameters={"n": hostile}).open()
    assert await named.read_all() == b"id\r\n"
    query = "SELECT id FROM items WHERE name = ? OR id = ?"
    positional = await _source(database, query, parameters=[hostile, 3]).open()
    assert await positional.read_all() == b"id\r\n3\r\n"
    assert _fingerprint(tmp_path) == before


async def test_a_large_result_arrives_whole_in_bounded_chunks(database: Path) -> None:
    stream = await _source(database, "SELECT n, label FROM many ORDER BY n", format="jsonl").open()
    chunks = [c async for c in stream]
    await stream.aclose()
    assert len(chunks) > 5
    assert all(len(c) == CHUNK_SIZE for c in chunks[:-1]) and 0 < len(chunks[-1]) <= CHUNK_SIZE
    lines = b"".join(chunks).decode().splitlines()
    assert len(lines) == 60000 and json.loads(lines[-1])["n"] == 59999


def _run_of(stream: DataStream) -> Any:
    release = stream._release  # the run's stop(): reach the run to look at its buffer
    assert release is not None
    return release.__self__  # type: ignore[attr-defined]


async def test_a_slow_consumer_makes_the_worker_wait(database: Path) -> None:
    stream = await _source(database, ENDLESS).open()
    run = _run_of(stream)
    await stream.__anext__()
    await asyncio.sleep(0.3)  # plenty of time for an unbounded producer to run away
    assert run._queue.qsize() <= BUFFERED_CHUNKS <= 4
    await stream.aclose()


async def test_closing_the_stream_stops_the_worker_and_closes_the_connection(database: Path) -> None:
    stream = await _source(database, ENDLESS).open()
    await stream.__anext__()
    started = time.monotonic()
    await stream.aclose()
    assert time.monotonic() - started < 2
    assert not _run_of(stream)._thread.is_alive()


async def test_cancelling_open_during_a_long_query_stops_the_worker(database: Path) -> None:
    slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100000000) SELECT sum(x) FROM c"
    task = asyncio.create_task(_source(database, slow).open())
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _wait_no_sql_threads()


async def test_a_query_producing_nothing_for_too_long_times_out(database: Path) -> None:
    slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    with pytest.raises(SourceError) as caught:
        await _source(database, slow, timeout=0.3).open()
    assert caught.value.code == "source.sql.timeout"
    await _wait_no_sql_threads()


async def test_duplicate_column_names_are_refused_for_json_lines(database: Path) -> None:
    with pytest.raises(SourceError) as caught:
        await _source(database, "SELECT id, id FROM items", format="jsonl").open()
    assert caught.value.code == "source.sql.duplicate_column"


async def test_a_missing_database_is_unavailable_and_not_created(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as caught:
        await _source(tmp_path / "absent.sqlite", "SELECT 1").open()
    assert caught.value.code == "source.sql.unavailable"
    assert not (tmp_path / "absent.sqlite").exists()


async def test_query_results_are_not_seekable(database: Path) -> None:
    source = _source(database, "SELECT 1")
    assert source.seekable is False
    with pytest.raises(SourceError) as caught:
        await source.open(ByteRange(10))
    assert caught.value.code == "source.range.unsupported"
    assert await (await source.open(ByteRange(0))).read_all() == b"1\r\n1\r\n"


async def test_a_relative_database_path_is_taken_from_the_base_folder(database: Path) -> None:
    config = {"type": "sql", "database": database.name, "query": "SELECT count(*) AS n FROM items"}
    source = build_source(config, SourceContext(file_roots={"default": database.parent}))
    assert await (await source.open()).read_all() == b"n\r\n3\r\n"


async def test_an_execution_error_reaches_the_consumer_without_sqlite_internals(database: Path) -> None:
    with pytest.raises(SourceError) as caught:
        await _source(database, "SELECT * FROM no_such_table").open()
    assert caught.value.code == "source.sql.failed"
    assert "no_such_table" not in caught.value.reason


# --- nothing can be written ----------------------------------------------------------------------------------


WRITES = [
    "INSERT INTO items (id, name) VALUES (99, 'x')",
    "UPDATE items SET name = 'x'",
    "DELETE FROM items",
    "REPLACE INTO items (id, name) VALUES (1, 'x')",
    "DROP TABLE items",
    "CREATE TABLE t (a)",
    "CREATE TEMP TABLE t (a)",
    "ALTER TABLE items ADD COLUMN extra",
    "CREATE INDEX i ON items (name)",
    "ATTACH DATABASE 'other.sqlite' AS other",
    "PRAGMA writable_schema = 1",
    "PRAGMA journal_mode = DELETE",
    "PRAGMA query_only = OFF",
    "WITH doomed AS (SELECT id FROM items) DELETE FROM items WHERE id IN (SELECT id FROM doomed)",
    "SELECT 1; DROP TABLE items",
    "VACUUM",
    "VACUUM INTO 'copy.sqlite'",
    "BEGIN IMMEDIATE",
    "REINDEX",
    "ANALYZE",
    "SELECT load_extension('evil')",
]


@pytest.mark.parametrize("statement", WRITES)
async def test_statements_that_could_write_are_refused_before_anything_changes(
    database: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, statement: str
) -> None:
    monkeypatch.chdir(tmp_path)  # where relative ATTACH / VACUUM INTO targets would land
    before = _fingerprint(tmp_path)
    config = {"type": "sql", "database": database.name, "query": statement}
    problems = check_query(config, SourceContext(file_roots={"default": database.parent}))
    assert problems and problems[0].code in ("source.sql.not_read_only", "source.sql.invalid")
    assert problems[0].where == "query"
    with pytest.raises(SourceError) as caught:
        await (await _source(database, statement).open()).read_all()
    assert caught.value.code in ("source.sql.not_read_only", "source.sql.invalid")
    assert _fingerprint(tmp_path) == before
    conn = sqlite3.connect(database)
    assert conn.execute("SELECT count(*) FROM items").fetchone() == (3,)
    conn.close()


async def test_the_refusal_names_what_the_query_would_have_done(database: Path) -> None:
    with pytest.raises(SourceError) as caught:
        await _source(database, "DELETE FROM items").open()
    assert caught.value.reason == "the query is not read-only (delete 'items')"
    with pytest.raises(SourceError) as caught:
        await _source(database, "PRAGMA writable_schema = 1").open()
    assert caught.value.reason == "the query is not read-only (pragma 'writable_schema')"
    with pytest.raises(SourceError) as caught:
        await _source(database, "VACUUM INTO 'copy.sqlite'").open()
    assert "Vacuum" in caught.value.reason


def test_check_query_accepts_a_plain_select_and_explains_typos_to_the_operator(database: Path) -> None:
    ok = {"type": "sql", "database": database.name, "query": "SELECT * FROM items WHERE id = ?", "parameters": [1]}
    context = SourceContext(file_roots={"default": database.parent})
    assert check_query(ok, context) == []
    typo = {**ok, "query": "SELECT * FROM itemz"}
    problems = check_query(typo, context)
    assert problems[0].code == "source.sql.failed" and "itemz" in problems[0].reason
    wrong_count = {**ok, "parameters": [1, 2]}
    assert check_query(wrong_count, context)[0].code == "source.sql.invalid"


@pytest.mark.parametrize(
    ("config", "where"),
    [
        ({"query": "SELECT 1"}, "database"),
        ({"database": "d.sqlite"}, "query"),
        ({"database": "d.sqlite", "query": ""}, "query"),
        ({"database": "d.sqlite", "query": "SELECT 1", "format": "xml"}, "format"),
        ({"database": "d.sqlite", "query": "SELECT 1", "parameters": "x"}, "parameters"),
        ({"database": "d.sqlite", "query": "SELECT 1", "parameters": [[1]]}, "parameters.0"),
        ({"database": "d.sqlite", "query": "SELECT ?", "parameters": {"1bad": 1}}, "parameters.1bad"),
        ({"database": "d.sqlite", "query": "SELECT 1", "timeout": -1}, "timeout"),
        ({"database": "d.sqlite", "query": "SELECT 1", "sql": "x"}, "sql"),
    ],
)
def test_invalid_sql_configurations_name_the_field(config: dict[str, Any], where: str) -> None:
    problems = validate_source_config({"type": "sql", **config})
    assert where in [p.where for p in problems], problems


@pytest.mark.parametrize(
    ("database_field", "code"),
    [
        ("../var/connector.sqlite", "source.sql.escape"),
        ("/etc/passwd", "source.sql.escape"),
        ("sub/../warehouse.sqlite", "source.sql.escape"),
        ("./warehouse.sqlite", "source.sql.escape"),
    ],
)
def test_a_database_outside_the_data_root_is_refused_as_configured(database_field: str, code: str) -> None:
    from connector.sources.sql import validate_source_config

    problems = validate_source_config({"type": "sql", "database": database_field, "query": "SELECT 1"})
    assert problems and problems[0].code == code and problems[0].where == "database"


async def test_a_database_reached_through_a_link_or_being_the_nodes_store_is_refused(
    database: Path, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "linked.sqlite").symlink_to(database)
    (root / "folder").mkdir()
    store = tmp_path / "var" / "connector.sqlite"
    store.parent.mkdir()
    sqlite3.connect(store).close()
    (root / "store.sqlite").hardlink_to(store)
    context = SourceContext(file_roots={"default": root}, protected_files=(store,))
    for name, code in (
        ("linked.sqlite", "source.sql.symlink"),
        ("folder", "source.sql.not_regular"),
        ("store.sqlite", "source.sql.forbidden"),
        ("absent.sqlite", "source.sql.unavailable"),
    ):
        source = build_source({"type": "sql", "database": name, "query": "SELECT 1"}, context)
        with pytest.raises(SourceError) as caught:
            await (await source.open()).read_all()
        assert caught.value.code == code, (name, caught.value)


def test_without_a_data_root_no_database_is_read() -> None:
    with pytest.raises(SourceError) as caught:
        build_source({"type": "sql", "database": "w.sqlite", "query": "SELECT 1"}, SourceContext())
    assert caught.value.code == "source.sql.no_root"
