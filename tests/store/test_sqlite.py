"""What the SQLite store adds to the contract every backend keeps (tests/store/test_transactions.py): its file in
WAL mode, migrations kept across reopening, a refusal of a newer program's store, work off the event loop, whole
commits after kill -9, and the evidence guards against INSERT OR REPLACE."""

import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from connector.errors import ConnectorError
from connector.store.errors import StoreConflict
from connector.store.migrations import MIGRATIONS
from connector.store.sql.settings import get_setting, put_setting
from connector.store.sqlite import SqliteStore, _statements


async def test_opening_applies_every_migration_and_records_it(tmp_path):
    store = SqliteStore(tmp_path / "s.sqlite")
    await store.open()
    try:
        assert await store.schema_version() == MIGRATIONS[-1].version
        history = await store.read(lambda db: [r[0] for r in db.execute("SELECT version FROM schema_history")])
        assert history == [m.version for m in MIGRATIONS]
        mode = await store.read(lambda db: db.execute("PRAGMA journal_mode").fetchone()[0])
        assert mode == "wal"
    finally:
        await store.close()


async def test_reopening_keeps_data_and_does_not_migrate_twice(tmp_path):
    store = SqliteStore(tmp_path / "s.sqlite")
    await store.open()
    await store.run(put_setting, "k", "v1")
    await store.close()
    store = SqliteStore(tmp_path / "s.sqlite")
    await store.open()
    try:
        assert await store.read(get_setting, "k") == "v1"
    finally:
        await store.close()


async def test_a_store_from_a_newer_program_is_refused_with_a_clear_error(tmp_path):
    path = tmp_path / "s.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=999")
    conn.close()
    store = SqliteStore(path)
    with pytest.raises(ConnectorError) as err:
        await store.open()
    assert err.value.code == "store.too_new"
    await store.close()


async def test_store_work_runs_off_the_event_loop_thread(tmp_path):
    import threading

    store = SqliteStore(tmp_path / "s.sqlite")
    await store.open()
    try:
        worker = await store.read(lambda db: threading.get_ident())
        assert worker != threading.get_ident()
    finally:
        await store.close()


def test_migration_scripts_split_into_whole_statements_including_triggers():
    parts = _statements("CREATE TABLE a(x); CREATE TRIGGER t BEFORE DELETE ON a BEGIN SELECT RAISE(ABORT,'x'); END;")
    assert len(parts) == 2 and parts[1].endswith("END;")


def test_a_process_killed_mid_write_leaves_a_consistent_store(tmp_path):
    """kill -9 while committing in a loop: the store opens, passes integrity_check, and holds whole commits."""
    path = tmp_path / "crash.sqlite"
    script = textwrap.dedent(f"""
        import asyncio
        from connector.store.sqlite import SqliteStore
        async def main():
            s = SqliteStore({str(path)!r})
            await s.open()
            i = 0
            while True:
                i += 1
                def write(db, i=i):
                    db.execute("INSERT OR REPLACE INTO settings(key, value) VALUES ('a', ?)", [str(i)])
                    db.execute("INSERT OR REPLACE INTO settings(key, value) VALUES ('b', ?)", [str(i)])
                await s.run(write)
                if i == 50:
                    print("ready", flush=True)
        asyncio.run(main())
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    proc.kill()
    proc.wait()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    a = conn.execute("SELECT value FROM settings WHERE key='a'").fetchone()[0]
    b = conn.execute("SELECT value FROM settings WHERE key='b'").fetchone()[0]
    assert a == b and int(a) >= 50, "both keys come from the same committed transaction"


async def test_replacing_a_row_counts_as_deleting_it_for_the_evidence_tables_guards(tmp_path):
    store = SqliteStore(tmp_path / "s.sqlite")
    await store.open()
    try:
        sql = "INSERT OR REPLACE INTO evidence_subjects(sha256, body) VALUES ('a', ?)"
        await store.run(lambda tx: tx.execute(sql, ["{}"]))
        with pytest.raises(StoreConflict, match="evidence.append_only"):
            await store.run(lambda tx: tx.execute(sql, ['{"forged":1}']))
        assert await store.read(lambda tx: tx.execute("SELECT body FROM evidence_subjects").fetchall()[0][0]) == "{}"
    finally:
        await store.close()
