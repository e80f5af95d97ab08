"""What is PostgreSQL's own, on a real server: migrating a database, one node per database, one chain however many
connections append, the node's restricted role, and connections that go away."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from typing import Any

import psycopg
import pytest

from connector.errors import ConnectorError
from connector.evidence.chain import verify_chain
from connector.evidence.edge.journal import Journal
from connector.store.errors import StoreConflict, StoreError, StoreUnavailable
from connector.store.migrations import MIGRATIONS
from connector.store.postgres import PostgresStore, PostgresTx, connect, describe, restricted_role_sql, to_psycopg
from connector.store.sql import evidence as tables
from connector.store.sql.settings import get_setting, put_setting


def _superuser(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(url, autocommit=True)


async def test_an_empty_database_is_migrated_once_into_64_bit_integers_and_a_newer_one_is_refused(postgres_url):
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        assert await store.schema_version() == MIGRATIONS[-1].version
        await store.run(put_setting, "k", "v")
    finally:
        await store.close()
    with _superuser(postgres_url) as conn:
        narrow = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type IN ('integer', 'smallint')"
        ).fetchall()
        assert narrow == []
        wide = conn.execute(
            "SELECT data_type FROM information_schema.columns WHERE table_name = 'data_flows' AND column_name = 'size'"
        ).fetchone()
        assert wide == ("bigint",)
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        assert await store.read(get_setting, "k") == "v"
        count = await store.read(lambda tx: tx.execute("SELECT count(*) FROM schema_history").fetchone()[0])
        assert count == len(MIGRATIONS)
    finally:
        await store.close()
    with _superuser(postgres_url) as conn:
        conn.execute("INSERT INTO schema_history(version, description, applied_at) VALUES (999, 'future', 'now')")
    with pytest.raises(ConnectorError) as err:
        await PostgresStore(postgres_url).open()
    assert err.value.code == "store.too_new" and err.value.where == "store.url"


async def test_one_node_per_database_and_the_next_may_start_as_soon_as_the_first_stopped(postgres_migrated_url):
    first = PostgresStore(postgres_migrated_url)
    await first.open()
    try:
        started = time.monotonic()
        with pytest.raises(ConnectorError) as err:
            await PostgresStore(postgres_migrated_url, lock_wait=0.5).open()
        assert err.value.code == "store.in_use" and time.monotonic() - started >= 0.5  # it waited for the lock
    finally:
        await first.close()
    second = PostgresStore(postgres_migrated_url, lock_wait=0)
    await second.open()  # the lock was given up at close, not when the server ends the session
    await second.close()


async def test_an_unreachable_database_is_a_clear_error_without_the_password(postgres_server):
    url = postgres_server.url("no_such_database").replace("postgres@", "postgres:s3cret@")
    with pytest.raises(ConnectorError) as err:
        await PostgresStore(url).open()
    assert err.value.code == "store.open" and err.value.where == "store.url"
    assert "no_such_database" in err.value.reason and "s3cret" not in err.value.reason
    assert "s3cret" not in describe(url) and describe(url).endswith("/no_such_database")


async def test_evidence_cannot_be_truncated_either(postgres_migrated_url):
    store = PostgresStore(postgres_migrated_url)
    await store.open()
    try:
        for table in ("evidence_records", "evidence_subjects", "agreement_signatures"):
            with pytest.raises(StoreConflict, match="evidence.append_only"):
                await store.run(lambda tx, t=table: tx.execute(f"TRUNCATE {t}"))
    finally:
        await store.close()


def _appender(url: str, count: int, start: threading.Barrier, errors: list[BaseException]) -> None:
    """A process of its own, as far as the database can tell: its connection, its journal (head loaded once)."""
    conn = connect(url)
    tx = PostgresTx(conn)
    journal = Journal()
    try:
        journal.load(tx)
        start.wait()
        for i in range(count):
            conn.execute("BEGIN")
            journal.append(tx, "test.appended", process_id=f"p{threading.get_ident()}", data={"i": i})
            time.sleep(0.001)  # hold the chain a moment: the others queue behind it
            conn.execute("COMMIT")
    except BaseException as exc:
        errors.append(exc)
    finally:
        conn.close()


def test_connections_appending_at_once_make_one_chain(postgres_migrated_url):
    writers, each = 4, 15
    start, errors = threading.Barrier(writers), []
    threads = [
        threading.Thread(target=_appender, args=(postgres_migrated_url, each, start, errors)) for _ in range(writers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    conn = connect(postgres_migrated_url)
    try:
        rows = list(tables.record_rows(PostgresTx(conn), 1))
    finally:
        conn.close()
    assert [r["seq"] for r in rows] == list(range(1, writers * each + 1))
    assert verify_chain(rows).ok


def test_a_stale_head_waits_for_the_appender_then_follows_it(postgres_migrated_url):
    """The second appender's insert waits on the chain's lock until the first commits, is refused (its head is
    stale), and follows the committed head within the same transaction."""
    first, second = connect(postgres_migrated_url), connect(postgres_migrated_url)
    a, b = Journal(), Journal()
    a.load(PostgresTx(first))
    b.load(PostgresTx(second))
    first.execute("BEGIN")
    a.append(PostgresTx(first), "by.first")
    waited: list[float] = []

    def other() -> None:
        second.execute("BEGIN")
        started = time.monotonic()
        b.append(PostgresTx(second), "by.second")
        waited.append(time.monotonic() - started)
        second.execute("COMMIT")

    thread = threading.Thread(target=other)
    thread.start()
    time.sleep(0.3)
    assert thread.is_alive()  # waiting for the chain's lock
    first.execute("COMMIT")
    thread.join(10)
    try:
        rows = list(tables.record_rows(PostgresTx(first), 1))
    finally:
        first.close()
        second.close()
    assert waited and waited[0] >= 0.25
    assert [(r["seq"], r["kind"]) for r in rows] == [(1, "by.first"), (2, "by.second")] and verify_chain(rows).ok


@pytest.fixture
def node_role(postgres_migrated_url: str) -> Any:
    role = f"node_{uuid.uuid4().hex[:8]}"
    database = postgres_migrated_url.rsplit("/", 1)[1]
    with _superuser(postgres_migrated_url) as conn:
        conn.execute(restricted_role_sql(role, database))  # type: ignore[arg-type]
    yield role, postgres_migrated_url.replace("://postgres@", f"://{role}@")
    with _superuser(postgres_migrated_url) as conn:
        conn.execute(f'DROP OWNED BY "{role}"')  # type: ignore[arg-type]
        conn.execute(f'DROP ROLE "{role}"')  # type: ignore[arg-type]


async def test_the_restricted_role_runs_a_node_but_cannot_change_evidence(node_role):
    role, url = node_role
    store = PostgresStore(url)
    await store.open()
    journal = Journal()

    def work(tx: Any) -> int:
        put_setting(tx, "k", "v")
        tx.execute("DELETE FROM settings WHERE key = ?", ["k"])
        journal.load(tx)
        journal.append(tx, "test.one", subject={"a": 1})
        journal.append(tx, "test.two")
        return tables.insert_checkpoint(tx, 2, journal.head.hash, "2030", "jws")

    try:
        assert await store.read(lambda tx: tx.execute("SELECT current_user").fetchone()[0]) == role
        assert await store.run(work) >= 1
        for statement in (
            "UPDATE evidence_records SET kind = 'x'",
            "DELETE FROM evidence_records",
            "TRUNCATE evidence_subjects",
            "DELETE FROM evidence_checkpoints",
            "ALTER TABLE evidence_records DISABLE TRIGGER evidence_records_no_update",
            "DROP TRIGGER evidence_records_no_delete ON evidence_records",
        ):
            with pytest.raises(StoreError, match="permission denied|must be owner") as err:
                await store.run(lambda tx, s=statement: tx.execute(s))
            assert not isinstance(err.value, StoreConflict | StoreUnavailable), statement
        assert await store.read(tables.count) == 2
    finally:
        await store.close()


async def test_connections_the_database_ends_are_replaced_and_a_call_cut_off_is_unavailable(
    postgres_migrated_url, postgres_server
):
    store = PostgresStore(postgres_migrated_url, pool_size=3)
    await store.open()
    try:
        await store.run(put_setting, "before", "1")
        await asyncio.gather(*(store.read(get_setting, "before") for _ in range(4)))  # every connection in use once
        database = postgres_migrated_url.rsplit("/", 1)[1]
        postgres_server.admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'")
        # Connections ended while idle in the pool fail at BEGIN, before anything ran: replaced, unseen by callers.
        await store.run(put_setting, "after", "1")
        assert await store.read(get_setting, "after") == "1"
        assert await store.healthy() is True  # the node's lock taken again, on a new session

        def cut_off(tx: Any) -> None:
            put_setting(tx, "lost", "1")
            tx.execute("SELECT pg_terminate_backend(pg_backend_pid())")

        with pytest.raises(StoreUnavailable):
            await store.run(cut_off)
        assert await store.read(get_setting, "lost") is None
        await store.run(put_setting, "later", "1")
        assert [await store.read(get_setting, k) for k in ("before", "after", "later")] == ["1", "1", "1"]
    finally:
        await store.close()


async def test_reads_run_while_the_writer_is_busy(postgres_migrated_url):
    store = PostgresStore(postgres_migrated_url, pool_size=3)
    await store.open()
    gate = threading.Event()
    try:
        await store.run(put_setting, "k", "v")
        busy = asyncio.ensure_future(store.run(lambda tx: gate.wait(5)))
        await asyncio.sleep(0.05)
        assert await asyncio.wait_for(store.read(get_setting, "k"), 2) == "v"
        gate.set()
        await busy
    finally:
        gate.set()
        await store.close()


def test_placeholders_are_translated_outside_literals_names_and_comments():
    assert to_psycopg("SELECT ? FROM t WHERE a = ?") == "SELECT %s FROM t WHERE a = %s"
    assert to_psycopg("SELECT '?', 'it''s ?', \"?\" FROM t -- ?\nWHERE b LIKE 'x%' AND c = ? /* ? */") == (
        "SELECT '?', 'it''s ?', \"?\" FROM t -- ?\nWHERE b LIKE 'x%%' AND c = %s /* ? */"
    )
    assert to_psycopg("SELECT 1") == "SELECT 1"


def test_the_latest_record_about_a_process_is_found_by_its_index_not_by_walking_the_log(postgres_migrated_url):
    conn = connect(postgres_migrated_url)
    tx = PostgresTx(conn)
    journal = Journal()
    try:
        journal.load(tx)
        conn.execute("BEGIN")
        for i in range(2000):
            journal.append(tx, "test.appended", process_id=f"p{i % 50}")
        conn.execute("COMMIT")
        conn.execute("ANALYZE evidence_records")
        for process in ("p7", "a process with no record yet"):
            latest = "SELECT hash FROM evidence_records WHERE process_id = %s ORDER BY seq DESC LIMIT 1"
            plan = conn.execute(f"EXPLAIN (FORMAT JSON) {latest}", [process]).fetchone()[0]
            assert "evidence_records_by_process" in json.dumps(plan), plan
        assert tables.last_hash_of(tx, "p7") == list(tables.records_of(tx, ["p7"]))[-1]["hash"]
    finally:
        conn.close()
