"""SQLite's group commit with reads: a read queued while the store thread is busy joins the group, sees the writes
queued before it and leaves nothing behind (what every backend's writes do is in tests/store/test_groups.py)."""

import asyncio
import threading

import pytest

from connector.store.sql.settings import get_setting, put_setting
from connector.store.sqlite import SqliteStore


@pytest.fixture
async def store(tmp_path):
    s = SqliteStore(tmp_path / "s.sqlite")
    await s.open()
    yield s
    await s.close()


def _hold(gate: threading.Event):
    """A call that keeps the store thread busy until `gate` is set, so that what is queued meanwhile is grouped."""

    def run(db):
        gate.wait(5)

    return run


def _put(key, value):
    def run(db):
        db.execute("INSERT INTO settings(key, value) VALUES (?, ?)", [key, value])
        return key

    return run


def _put_then_fail(key):
    def run(db):
        db.execute("INSERT INTO settings(key, value) VALUES (?, 'half')", [key])
        raise RuntimeError(f"boom {key}")

    return run


async def _grouped(store, calls):
    """Run `calls` (mode, fn) so that they are all queued behind a busy store thread, hence one group."""
    gate = threading.Event()
    busy = asyncio.ensure_future(store.run(_hold(gate)))
    await asyncio.sleep(0.05)
    pending = [asyncio.ensure_future(store.run(fn) if mode == "write" else store.read(fn)) for mode, fn in calls]
    await asyncio.sleep(0.05)
    gate.set()
    await busy
    return await asyncio.gather(*pending, return_exceptions=True)


async def test_calls_of_a_group_see_the_writes_queued_before_them(store):
    def read_a(db):
        row = db.execute("SELECT value FROM settings WHERE key = 'a'").fetchone()
        return row[0] if row else None

    results = await _grouped(store, [("write", _put("a", "1")), ("read", read_a)])
    assert results == ["a", "1"]


async def test_a_read_in_a_group_leaves_nothing_behind_even_if_it_writes(store):
    def sneaky_read(db):
        db.execute("INSERT INTO settings(key, value) VALUES ('sneaky', 'x')")
        return "read"

    results = await _grouped(store, [("read", sneaky_read), ("write", _put("kept", "1"))])
    assert results == ["read", "kept"]
    assert await store.read(get_setting, "sneaky") is None
    assert await store.read(get_setting, "kept") == "1"


async def test_a_group_of_reads_only_writes_nothing(store):
    await store.run(put_setting, "k", "v")
    get = lambda db: db.execute("SELECT value FROM settings WHERE key = 'k'").fetchone()[0]  # noqa: E731
    assert await _grouped(store, [("read", get), ("read", get)]) == ["v", "v"]
