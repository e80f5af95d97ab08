"""The seam itself: what `Store` promises about transactions, and what a `Tx` offers the statements."""

from __future__ import annotations

import hashlib
from string import Template

import pytest

from connector.store.errors import StoreConflict
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
        assert set(SPELLINGS[dialect]) == set(SPELLINGS["sqlite"]), dialect
        for migration in MIGRATIONS:
            migration.script(dialect)  # an unknown name raises
            common = Template(migration.sql).substitute(SPELLINGS[dialect])
            assert "$" not in common, (dialect, migration.version)  # (a dialect's own part may quote with $$)


# The SQLite text of the migrations that have shipped: stores made by earlier versions were built from exactly these.
SHIPPED_SQLITE = {
    1: "81df0c46990dd0ebf4368d3e9d2de29793399bd830dca1e28adc4821bf932261",
    2: "3f4a8d0882d632ee490573c94b59d2e25248a385b11b6c82b954a3ea11d8f421",
    3: "d7422fda5ff054c04bdbd90d7781939b1bd511bc069c841f2220f6ceaf18cecf",
    4: "06ceb0f21b44380100dcc150a2d36ecedd2455229bc52ef94c54e2b962627a92",
    5: "8f5d050e3001e032d60b8be134a6510b543620a9088d4eeb28f05bdd0130b521",
}


def test_a_shipped_migration_is_never_changed_for_sqlite():
    scripts = {m.version: hashlib.sha256(m.script("sqlite").encode()).hexdigest() for m in MIGRATIONS}
    assert {v: scripts[v] for v in SHIPPED_SQLITE} == SHIPPED_SQLITE


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


async def test_question_marks_and_percent_signs_in_literals_are_text_not_placeholders(store):
    def work(tx: Tx) -> tuple[object, ...]:
        put_setting(tx, "50%?", "a 'quoted' ? and 100%")
        row = tx.execute(
            "SELECT '?' AS mark, '%s%%' AS percent, value, ? AS given FROM settings WHERE key = ? -- a ? here too",
            ["x?%", "50%?"],
        ).fetchone()
        return tuple(row)

    assert await store.run(work) == ("?", "%s%%", "a 'quoted' ? and 100%", "x?%")


async def test_a_refused_constraint_is_a_store_conflict_and_nothing_of_the_run_is_kept(store):
    def twice(tx: Tx) -> None:
        put_setting(tx, "other", "1")
        tx.execute("INSERT INTO settings(key, value) VALUES (?, ?)", ["k", "1"])
        tx.execute("INSERT INTO settings(key, value) VALUES (?, ?)", ["k", "2"])

    with pytest.raises(StoreConflict):
        await store.run(twice)
    assert await store.read(get_setting, "other") is None


async def test_a_statement_refused_in_a_savepoint_leaves_the_transaction_usable(store):
    def work(tx: Tx) -> str:
        put_setting(tx, "k", "1")
        try:
            with tx.savepoint():
                put_setting(tx, "inside", "x")
                tx.execute("INSERT INTO settings(key, value) VALUES (?, ?)", ["k", "2"])
        except StoreConflict as exc:
            refused = str(exc)
        put_setting(tx, "after", "2")
        with tx.savepoint():
            put_setting(tx, "kept", "3")
        return refused

    assert await store.run(work)
    assert [await store.read(get_setting, k) for k in ("k", "inside", "after", "kept")] == ["1", None, "2", "3"]
