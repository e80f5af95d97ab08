"""The seam itself: what `Store` promises about transactions, and what a `Tx` offers the statements."""

from __future__ import annotations

import pytest

from connector.store.interface import Tx
from connector.store.migrations import MIGRATIONS, SPELLINGS
from connector.store.sql.settings import get_setting, put_setting


async def test_every_migration_is_applied_once_and_recorded_in_order(store):
    def versions(tx: Tx) -> list[int]:
        return [row[0] for row in tx.execute("SELECT version FROM schema_history ORDER BY version")]

    assert await store.read(versions) == [m.version for m in MIGRATIONS]
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))


def test_every_migration_is_spelled_completely_in_every_dialect():
    for dialect in SPELLINGS:
        for migration in MIGRATIONS:
            script = migration.script(dialect)  # an unknown name raises
            assert "$" not in script, (dialect, migration.version)


async def test_a_transaction_reports_the_backend_s_dialect(backend):
    assert await backend.store.read(lambda tx: tx.dialect) == backend.name


async def test_settings_are_kept_and_replaced(store):
    assert await store.read(get_setting, "k") is None
    await store.run(put_setting, "k", "v1")
    await store.run(put_setting, "k", "v2")
    assert await store.read(get_setting, "k") == "v2"


async def test_what_a_run_writes_is_committed_and_a_failing_run_leaves_nothing(store):
    def half_then_fail(tx: Tx) -> None:
        put_setting(tx, "half", "1")
        raise RuntimeError("boom")

    await store.run(put_setting, "kept", "1")
    with pytest.raises(RuntimeError):
        await store.run(half_then_fail)
    assert await store.read(get_setting, "kept") == "1"
    assert await store.read(get_setting, "half") is None


async def test_a_read_leaves_nothing_behind_and_says_so_to_the_undo_hooks(store):
    undone: list[int] = []
    store.on_undo(lambda: undone.append(1))
    assert await store.read(put_setting, "sneaky", "1") is None
    assert await store.read(get_setting, "sneaky") is None
    assert undone


async def test_a_failed_run_calls_the_undo_hooks(store):
    undone: list[int] = []
    store.on_undo(lambda: undone.append(1))

    def fail(tx: Tx) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await store.run(fail)
    assert undone


async def test_a_healthy_store_says_so(store):
    assert await store.healthy() is True


async def test_execute_returns_rows_by_position_and_by_name_and_counts_changes(store):
    def work(tx: Tx) -> tuple[int, list[tuple[str, str]], dict[str, str], int]:
        tx.executemany("INSERT INTO settings(key, value) VALUES (?, ?)", [("a", "1"), ("b", "2"), ("c", "3")])
        changed = tx.execute("UPDATE settings SET value = ? WHERE key IN (?, ?)", ["x", "a", "b"]).rowcount
        rows = tx.execute("SELECT key, value FROM settings ORDER BY key").fetchall()
        one = tx.execute("SELECT key, value FROM settings WHERE key = ?", ["c"]).fetchone()
        none = tx.execute("SELECT key FROM settings WHERE key = ?", ["zz"]).fetchone()
        assert none is None
        return changed, [(r[0], r["value"]) for r in rows], dict(one), len(list(tx.execute("SELECT key FROM settings")))

    changed, rows, one, counted = await store.run(work)
    assert changed == 2
    assert rows == [("a", "x"), ("b", "x"), ("c", "3")]
    assert one == {"key": "c", "value": "3"}
    assert counted == 3


async def test_query_yields_each_row_as_a_dict(store):
    def work(tx: Tx) -> list[dict[str, object]]:
        put_setting(tx, "a", "1")
        put_setting(tx, "b", "2")
        return list(tx.query("SELECT key, value FROM settings WHERE key > ? ORDER BY key", ["0"]))

    assert await store.run(work) == [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}]


async def test_an_insert_returns_the_key_the_store_assigned(store):
    def work(tx: Tx) -> list[int]:
        return [
            tx.execute(
                "INSERT INTO verifications(at, outcome, detail) VALUES (?, ?, ?) RETURNING id", ["t", "verified", "{}"]
            ).fetchone()[0]
            for _ in range(3)
        ]

    first, second, third = await store.run(work)
    assert first < second < third
