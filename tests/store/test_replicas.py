"""Replicas of one node on one PostgreSQL database, as the store sees them: who may share the database, claims on
work held by one replica at a time and taken over when it stops renewing, write transactions that follow one
another across replicas, and what they tell each other (LISTEN/NOTIFY). An SQLite store grants every claim."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import psycopg
import pytest

from connector.errors import ConnectorError
from connector.evidence.chain import PROCESS_PREV, verify_chain
from connector.evidence.edge.journal import Journal
from connector.store.coordination import SOLO
from connector.store.postgres import PostgresStore
from connector.store.sql import evidence as tables
from connector.store.sql.settings import get_setting, put_setting
from connector.store.sqlite import SqliteStore

NODE = "did:web:localhost%3A8443:tokyo"


@contextlib.asynccontextmanager
async def replica(url: str, node: str = NODE, lease: float = 5.0, **kw: Any) -> AsyncIterator[PostgresStore]:
    store = PostgresStore(url, node=node, lease=lease, **kw)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def _sql(url: str, statement: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cursor = conn.execute(statement)  # type: ignore[arg-type]
        return cursor.fetchall() if cursor.description else []


class Heard:
    """What a replica heard, in order: `next()` is the first item not taken yet, waited for if need be."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.taken = 0
        self.arrived = asyncio.Event()

    def __call__(self, item: str) -> None:
        self.items.append(item)
        self.arrived.set()

    async def next(self, timeout: float = 5.0) -> str:
        deadline = time.monotonic() + timeout
        while len(self.items) <= self.taken:
            self.arrived.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"nothing more arrived within {timeout} s (so far: {self.items})")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), remaining)
        self.taken += 1
        return self.items[self.taken - 1]


async def test_replicas_of_one_node_share_its_database_and_any_other_program_is_refused(postgres_migrated_url):
    url = postgres_migrated_url
    async with replica(url) as first, replica(url) as second:
        assert first.replica != second.replica
        assert sorted(row[0] for row in _sql(url, "SELECT id FROM replicas")) == sorted([first.replica, second.replica])
        with pytest.raises(ConnectorError) as err:
            async with replica(url, node="did:web:localhost%3A9443:berlin"):
                pass
        assert err.value.code == "store.in_use" and NODE in err.value.reason and err.value.where == "store.url"
        with pytest.raises(ConnectorError) as err:  # a program that wants the database to itself (store copy)
            await PostgresStore(url, lock_wait=0).open()
        assert err.value.code == "store.in_use"
        assert await first.healthy() and await second.healthy()
    assert _sql(url, "SELECT id FROM replicas") == []  # each gave up its registration when it stopped
    alone = PostgresStore(url, lock_wait=0)
    await alone.open()
    try:
        with pytest.raises(ConnectorError) as err:
            async with replica(url, lock_wait=0):
                pass
        assert err.value.code == "store.in_use" and "to itself" in err.value.reason
    finally:
        await alone.close()


async def test_a_claim_is_held_by_one_replica_at_a_time_and_nests_within_one(postgres_migrated_url):
    async with replica(postgres_migrated_url) as a, replica(postgres_migrated_url) as b:
        ca, cb = a.coordination, b.coordination
        async with ca.hold("negotiation:n1") as held:
            assert held and ca.holds("negotiation:n1")
            async with ca.hold("negotiation:n1") as again:  # the step and the delivery of one process
                assert again
            assert ca.holds("negotiation:n1")  # still held by the outer block
            async with cb.hold("negotiation:n1", announce=False) as other:
                assert not other and not cb.holds("negotiation:n1")
            async with cb.hold("negotiation:n2") as unrelated:
                assert unrelated
        assert not ca.holds("negotiation:n1")
        assert _sql(postgres_migrated_url, "SELECT name FROM work_claims") == []
        async with cb.hold("negotiation:n1") as now:
            assert now


async def test_work_committed_where_another_replica_holds_it_is_handed_to_that_replica(postgres_migrated_url):
    async with replica(postgres_migrated_url) as a, replica(postgres_migrated_url) as b:
        woken = Heard()
        a.coordination.claimant("negotiation", woken, _nothing)
        b.coordination.claimant("negotiation", Heard(), _nothing)
        async with a.coordination.hold("negotiation:n1"):
            async with b.coordination.hold("negotiation:n1") as held:  # b just committed work for n1
                assert not held
            assert await woken.next() == "n1"
            async with b.coordination.hold("negotiation:n1", announce=False):  # a sweep: nobody is told
                pass
            await asyncio.sleep(0.3)
            assert woken.items == ["n1"]


async def _nothing() -> None:
    return None


async def test_the_work_of_a_replica_that_stops_renewing_is_taken_over(postgres_migrated_url):
    url = postgres_migrated_url
    async with replica(url, lease=1.0) as a, replica(url, lease=1.0) as b:
        woken, swept = Heard(), Heard()

        async def sweep() -> None:
            swept("sweep")

        b.coordination.claimant("transfer", woken, sweep)
        await b.coordination.start()
        replicas_a: Any = a.coordination
        await replicas_a.holdings.acquire("transfer:t1", True)
        # a stops renewing (as a process killed, or cut off from the database, would) but keeps its claim
        for task in replicas_a._tasks:
            task.cancel()
        started = time.monotonic()
        assert await woken.next(timeout=5) == "t1"
        assert time.monotonic() - started < 3.0  # within the lease, a renewal of b and some slack
        assert await swept.next() == "sweep"  # and b looks for what a committed without claiming
        assert [row[0] for row in _sql(url, "SELECT id FROM replicas")] == [b.replica]
        async with b.coordination.hold("transfer:t1") as held:
            assert held
        assert await b.healthy() and not a.coordination.healthy()


async def test_a_replica_taken_for_dead_forgets_its_claims_and_registers_again(postgres_migrated_url):
    url = postgres_migrated_url
    async with replica(url, lease=1.0) as a:
        swept = Heard()

        async def sweep() -> None:
            swept("sweep")

        a.coordination.claimant("negotiation", Heard(), sweep)
        await a.coordination.start()
        async with a.coordination.hold("negotiation:n1") as held:
            assert held
            _sql(url, f"DELETE FROM work_claims; DELETE FROM replicas WHERE id = '{a.replica}'")
            assert await swept.next(timeout=3) == "sweep"
            assert not a.coordination.holds("negotiation:n1")
            assert [row[0] for row in _sql(url, "SELECT id FROM replicas")] == [a.replica]
            _sql(url, "INSERT INTO work_claims VALUES ('negotiation:n1', 'another', 'now')")
        # the block's end gives up nothing it no longer holds
        assert _sql(url, "SELECT name, replica FROM work_claims") == [("negotiation:n1", "another")]


async def test_write_transactions_of_two_replicas_follow_one_another(postgres_migrated_url):
    """A read-then-write rule spanning the database (a use count) holds with two replicas writing at once."""
    async with replica(postgres_migrated_url) as a, replica(postgres_migrated_url) as b:
        await a.run(put_setting, "uses", "0")

        def use(tx: Any) -> None:
            uses = int(get_setting(tx, "uses") or 0)
            time.sleep(0.01)  # the other replica's transaction runs meanwhile
            put_setting(tx, "uses", str(uses + 1))

        await asyncio.gather(*(store.run(use) for _ in range(20) for store in (a, b)))
        assert await a.read(get_setting, "uses") == "40"


async def test_changes_and_signals_reach_the_other_replicas_and_not_their_sender(postgres_migrated_url):
    async with replica(postgres_migrated_url) as a, replica(postgres_migrated_url) as b:
        processes_a, processes_b, definitions_b, halts_a, halts_b = Heard(), Heard(), Heard(), Heard(), Heard()
        a.coordination.on("process", processes_a)
        b.coordination.on("process", processes_b)
        b.coordination.on("definitions", definitions_b)
        a.coordination.on("halt", halts_a)
        b.coordination.on("halt", halts_b)

        def negotiation(tx: Any) -> None:
            tx.execute(
                "INSERT INTO negotiations(id, role, state, peer_id, peer_address, created_at, updated_at) "
                "VALUES ('urn:uuid:1', 'provider', 'REQUESTED', 'did:web:x', 'https://x', 'now', 'now')"
            )

        await a.run(negotiation)
        assert await processes_b.next() == "negotiation REQUESTED urn:uuid:1"
        await a.run(lambda tx: tx.execute("UPDATE negotiations SET state = 'AGREED'"))
        assert await processes_b.next() == "negotiation AGREED urn:uuid:1"
        await b.run(  # b wrote it: b is not told
            lambda tx: tx.execute("INSERT INTO assets(id, created_at, updated_at) VALUES ('weather', 'now', 'now')")
        )
        a.coordination.signal("halt", "urn:uuid:t1")
        assert await halts_b.next() == "urn:uuid:t1"
        await asyncio.sleep(0.3)
        assert processes_a.items == [] and halts_a.items == [] and definitions_b.items == []


async def test_a_replica_hears_of_changes_to_what_the_catalogue_lists(postgres_migrated_url):
    async with replica(postgres_migrated_url) as a, replica(postgres_migrated_url) as b:
        heard = Heard()
        b.coordination.on("definitions", heard)
        await a.run(
            lambda tx: tx.execute("INSERT INTO assets(id, created_at, updated_at) VALUES ('weather', 'now', 'now')")
        )
        assert await heard.next() == "assets"


async def test_on_sqlite_the_one_process_holds_every_claim(tmp_path):
    store = SqliteStore(tmp_path / "node.sqlite")
    await store.open()
    try:
        assert store.coordination is SOLO
        solo = store.coordination
        async with solo.hold("negotiation:n1") as held, solo.hold("negotiation:n1") as again:
            assert held and again and solo.holds("negotiation:n1")
        store.coordination.signal("halt", "t1")  # nobody to tell
        assert store.coordination.healthy()
    finally:
        await store.close()


async def test_replicas_appending_to_the_evidence_chain_follow_each_other_without_a_refusal(
    postgres_migrated_url, monkeypatch
):
    async with replica(postgres_migrated_url) as a, replica(postgres_migrated_url) as b:
        journals = {}
        for store in (a, b):
            journal = Journal()
            store.on_undo(journal.forget)
            store.at_write_begin(tables.HEAD, journal.follow)
            journal.remember_processes()
            await store.run(journal.load)
            journals[store.replica] = journal
        refused: list[int] = []
        lock_chain = tables.lock_chain
        monkeypatch.setattr(tables, "lock_chain", lambda tx: (refused.append(1), lock_chain(tx)))  # after a refusal
        for i in range(5):
            for store in (a, b, b, a):
                journal = journals[store.replica]
                await store.run(lambda tx, j=journal, n=i: j.append(tx, "test.step", process_id="p1", data={"i": n}))
        rows = await a.read(lambda tx: list(tables.record_rows(tx, 1)))
    assert refused == []  # each transaction began with the head the other replica left
    assert len(rows) == 20 and verify_chain(rows).ok
    hashes = [row["hash"] for row in rows]
    links = [row["data"][PROCESS_PREV] for row in rows]
    assert links == [None, *hashes[:-1]]  # each names the record before it about the process, whoever wrote it


async def test_a_sweep_cut_short_by_the_node_stopping_is_not_reported_as_a_failure(caplog):
    from connector.store.replicas import Replicas

    replicas = Replicas(None, "r1", lease=5.0, sweep_interval=60.0)  # type: ignore[arg-type]
    swept: list[str] = []

    def claimant(kind: str, error: ConnectorError | None) -> Any:
        async def sweep() -> None:
            swept.append(kind)
            if error is not None:
                raise error

        return sweep

    replicas.claimant("refused", lambda _: None, claimant("refused", ConnectorError("store.unavailable", "busy")))
    replicas.claimant("stopping", lambda _: None, claimant("stopping", ConnectorError("store.closed", "stopping")))
    replicas.claimant("after", lambda _: None, claimant("after", None))
    with caplog.at_level("WARNING", logger="connector.store"):
        await replicas._sweep()
    # A store that refused is worth a warning; one that is closing ends the sweep quietly (the others sweep on).
    assert swept == ["refused", "stopping"]
    assert [r.getMessage() for r in caplog.records] == ["sweep for unclaimed work failed: busy"]
