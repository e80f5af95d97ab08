"""Group commit, on every backend: write calls queued while the store's writer is busy share one COMMIT, and each
stays atomic on its own. On SQLite, whose one thread also serves reads, a read queued meanwhile joins the group too:
it sees the writes queued before it and leaves nothing behind (PostgreSQL serves reads beside the writer)."""

import asyncio
import threading

import pytest
from store.kit import BACKENDS

from connector.errors import ConnectorError
from connector.store.sql.settings import get_setting, put_setting


@pytest.fixture
async def sqlite_store(request):
    async with BACKENDS["sqlite"](request) as opened:
        yield opened.store


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


async def test_a_failing_call_in_a_group_is_rolled_back_alone(store):
    results = await _grouped(
        store, [("write", _put("a", "1")), ("write", _put_then_fail("b")), ("write", _put("c", "3"))]
    )
    assert results[0] == "a" and results[2] == "c"
    assert isinstance(results[1], RuntimeError) and str(results[1]) == "boom b"
    assert await store.read(get_setting, "a") == "1"
    assert await store.read(get_setting, "b") is None
    assert await store.read(get_setting, "c") == "3"


async def test_rolled_back_writes_are_announced_to_undo_hooks(store):
    undone = []
    store.on_undo(lambda: undone.append(threading.get_ident()))
    await _grouped(store, [("write", _put("a", "1")), ("write", _put_then_fail("b"))])
    assert len(undone) == 1 and undone[0] != threading.get_ident()  # on the store thread
    with pytest.raises(RuntimeError):
        await store.run(_put_then_fail("c"))  # a transaction of its own
    assert len(undone) == 2
    await store.run(_put("d", "4"))
    await store.read(lambda db: db.execute("SELECT 1").fetchone())
    assert len(undone) == 2  # commits and clean reads undo nothing


async def test_a_call_whose_caller_gave_up_before_it_started_is_skipped(store):
    gate = threading.Event()
    busy = asyncio.ensure_future(store.run(_hold(gate)))
    await asyncio.sleep(0.05)
    abandoned = asyncio.ensure_future(store.run(_put("gone", "x")))
    await asyncio.sleep(0.05)
    abandoned.cancel()
    await asyncio.sleep(0)
    gate.set()
    await busy
    with pytest.raises(asyncio.CancelledError):
        await abandoned
    assert await store.read(get_setting, "gone") is None


async def test_many_concurrent_writers_all_commit(store):
    await asyncio.gather(*(store.run(_put(f"k{i}", str(i))) for i in range(200)))
    count = await store.read(lambda db: db.execute("SELECT count(*) FROM settings").fetchone()[0])
    assert count == 200


async def test_calls_after_close_are_refused_with_a_clear_error(backend):
    await backend.store.close()
    with pytest.raises(ConnectorError) as err:
        await backend.store.run(_put("a", "1"))
    assert err.value.code == "store.closed"
    with pytest.raises(ConnectorError) as err:
        await backend.store.read(get_setting, "a")
    assert err.value.code == "store.closed"


async def test_calls_of_a_group_see_the_writes_queued_before_them(sqlite_store):
    def read_a(db):
        row = db.execute("SELECT value FROM settings WHERE key = 'a'").fetchone()
        return row[0] if row else None

    results = await _grouped(sqlite_store, [("write", _put("a", "1")), ("read", read_a)])
    assert results == ["a", "1"]


async def test_a_read_in_a_group_leaves_nothing_behind_even_if_it_writes(sqlite_store):
    def sneaky_read(db):
        db.execute("INSERT INTO settings(key, value) VALUES ('sneaky', 'x')")
        return "read"

    results = await _grouped(sqlite_store, [("read", sneaky_read), ("write", _put("kept", "1"))])
    assert results == ["read", "kept"]
    assert await sqlite_store.read(get_setting, "sneaky") is None
    assert await sqlite_store.read(get_setting, "kept") == "1"


async def test_a_group_of_reads_only_writes_nothing(sqlite_store):
    await sqlite_store.run(put_setting, "k", "v")
    get = lambda db: db.execute("SELECT value FROM settings WHERE key = 'k'").fetchone()[0]  # noqa: E731
    assert await _grouped(sqlite_store, [("read", get), ("read", get)]) == ["v", "v"]
