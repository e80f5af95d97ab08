"""The chain in the store: appends ride on the caller's transaction, and a rollback never leaves the chain or
the in-memory head wrong."""

from __future__ import annotations

import sqlite3

import pytest
from evidence_e2e.kit import Clock, fresh_db
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.evidence.chain import GENESIS, Record, verify_chain
from connector.evidence.edge import tables
from connector.evidence.edge.journal import PROCESS_PREV, Journal


def stored(conn: sqlite3.Connection) -> list[Record]:
    return [Record.from_json(r) for r in tables.record_rows(conn, 1)]


def test_records_chain_and_subjects_are_kept_canonically():
    conn, journal = fresh_db(), Journal(Clock())
    journal.load(conn)
    first = journal.append(
        conn,
        "dsp.sent",
        process_id="urn:p1",
        peer="did:web:example.com",
        subject={"b": 1, "a": [1, 2]},
        data={"type": "ContractRequestMessage"},
    )
    second = journal.append(conn, "state.changed", process_id="urn:p1", data={"from": None, "to": "REQUESTED"})
    assert (first.seq, first.prev, second.prev) == (1, GENESIS, first.hash)
    assert first.data[PROCESS_PREV] is None and second.data[PROCESS_PREV] == first.hash
    assert verify_chain(stored(conn)).ok
    assert tables.subjects(conn, [first.subject_sha256]) == {first.subject_sha256: '{"a":[1,2],"b":1}'}


def test_a_rolled_back_append_does_not_leave_the_head_advanced():
    conn, journal = fresh_db(), Journal(Clock())
    journal.load(conn)
    conn.execute("BEGIN")
    journal.append(conn, "a.committed")
    conn.execute("COMMIT")
    conn.execute("BEGIN")
    ghost = journal.append(conn, "a.rolled_back", process_id="urn:p")
    assert journal.head.count == 2
    conn.execute("ROLLBACK")
    conn.execute("BEGIN")
    after = journal.append(conn, "after.rollback", process_id="urn:p")
    conn.execute("COMMIT")
    assert after.seq == 2 and after.prev != ghost.hash
    assert after.data[PROCESS_PREV] is None  # the rolled-back record about urn:p never existed
    assert verify_chain(stored(conn)).ok and journal.head == tables.head(conn)


def test_a_head_loaded_before_another_writer_is_corrected_on_the_next_append():
    conn = fresh_db()
    stale, other = Journal(Clock()), Journal(Clock())
    stale.load(conn)
    other.load(conn)
    other.append(conn, "by.other")
    record = stale.append(conn, "by.stale")
    assert record.seq == 2 and verify_chain(stored(conn)).ok


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.booleans(), st.integers(1, 4), st.sampled_from(["urn:a", "urn:b", None])), min_size=1, max_size=12
    )
)
def test_any_mix_of_committed_and_rolled_back_transactions_leaves_an_intact_chain(transactions):
    conn, journal = fresh_db(), Journal(Clock())
    journal.load(conn)
    expected = 0
    for commit, appends, process in transactions:
        conn.execute("BEGIN")
        for _ in range(appends):
            journal.append(conn, "test.event", process_id=process, data={"n": expected})
        conn.execute("COMMIT" if commit else "ROLLBACK")
        expected += appends if commit else 0
    records = stored(conn)
    assert len(records) == expected and verify_chain(records).ok
    last: dict[str, str | None] = {}
    for record in records:  # every process's records link up by PROCESS_PREV
        if record.process_id is not None:
            assert record.data[PROCESS_PREV] == last.get(record.process_id)
            last[record.process_id] = record.hash


def test_the_sink_keeps_a_step_going_when_a_peer_s_message_cannot_be_canonicalised():

    from connector.config import EvidenceSection
    from connector.evidence.edge.service import NodeEvidence

    evidence = NodeEvidence(identity=None, settings=EvidenceSection(), store=None, clock=Clock())  # type: ignore[arg-type]
    conn = fresh_db()
    evidence.journal.load(conn)
    record = evidence.append(
        conn,
        "dsp.received",
        process_id="urn:p",
        peer="TCK_PARTICIPANT",
        subject={"value": float("nan")},
        data={"reason": "x" * 5000},
    )
    assert record.subject_sha256 is None and "subject_unrepresentable" in record.data
    assert record.peer is None and record.data["peer_name"] == "TCK_PARTICIPANT"
    assert len(record.data["reason"]) < 700 and verify_chain(stored(conn)).ok


def test_record_data_is_bounded():
    from connector.evidence.edge.service import _safe_data

    assert _safe_data({"reason": "x" * 5000})["reason"].startswith("x" * 500)
    assert len(_safe_data({"reason": "x" * 5000})["reason"]) < 700
    assert _safe_data({"n": float("nan")}) == {"unrepresentable": True}
    assert _safe_data({"list": list(range(1000))})["list"] == list(range(100))


@pytest.mark.parametrize("kind", ["Bad Kind", "", "a..b"])
def test_a_malformed_kind_is_refused_before_anything_is_written(kind):
    from connector.errors import ConnectorError

    conn, journal = fresh_db(), Journal(Clock())
    journal.load(conn)
    with pytest.raises(ConnectorError):
        journal.append(conn, kind)
    assert tables.count(conn) == 0


async def test_remembered_process_links_follow_the_store_through_rolled_back_calls(tmp_path):
    """With the store telling the journal about rollbacks, a rolled-back append is never named as the previous
    record of a process, in a transaction of its own or in a group."""
    import asyncio
    import threading

    from connector.store.sqlite import SqliteStore

    store = SqliteStore(tmp_path / "s.sqlite")
    await store.open()
    try:
        journal = Journal(Clock())
        store.on_undo(journal.forget)
        journal.remember_processes()
        await store.run(journal.load)

        def append_then_fail(db):
            journal.append(db, "doomed.append", process_id="urn:p")
            raise RuntimeError("step failed")

        first = await store.run(lambda db: journal.append(db, "first.append", process_id="urn:p"))
        with pytest.raises(RuntimeError):
            await store.run(append_then_fail)
        second = await store.run(lambda db: journal.append(db, "second.append", process_id="urn:p"))
        assert second.data[PROCESS_PREV] == first.hash

        gate = threading.Event()
        busy = asyncio.ensure_future(store.run(lambda db: gate.wait(5)))
        await asyncio.sleep(0.05)
        doomed = asyncio.ensure_future(store.run(append_then_fail))
        third = asyncio.ensure_future(store.run(lambda db: journal.append(db, "third.append", process_id="urn:p")))
        await asyncio.sleep(0.05)
        gate.set()
        await busy
        with pytest.raises(RuntimeError):
            await doomed
        assert (await third).data[PROCESS_PREV] == second.hash
        records = await store.read(lambda db: [Record.from_json(r) for r in tables.record_rows(db, 1)])
        assert [r.kind for r in records] == ["first.append", "second.append", "third.append"]
        assert verify_chain(records).ok
    finally:
        await store.close()


def test_appends_stop_when_the_stored_head_is_not_a_record_hash():
    from connector.evidence.errors import EvidenceError

    conn, journal = fresh_db(), Journal(Clock())
    conn.execute(
        f"INSERT INTO {tables.RECORDS}(seq, at, kind, data, prev, hash) VALUES (1, 'x', 'k', '{{}}', ?, ?)",
        [GENESIS, "not a hash"],
    )
    journal.load(conn)
    with pytest.raises(EvidenceError) as caught:
        journal.append(conn, "state.changed")
    assert caught.value.code == "chain.record_malformed" and tables.count(conn) == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"kind": "Bad Kind"},
        {"process_id": ""},
        {"peer": "not-a-did"},
        {"data": {"n": float("nan")}},
        {"data": {"blob": "x" * 20_000}},
    ],
)
def test_the_journal_still_refuses_what_a_caller_gets_wrong(fields):
    from connector.evidence.errors import EvidenceError

    conn, journal = fresh_db(), Journal(Clock())
    journal.load(conn)
    arguments = {"kind": "state.changed", **fields}
    with pytest.raises(EvidenceError):
        journal.append(conn, arguments.pop("kind"), **arguments)
    assert tables.count(conn) == 0 and journal.head.count == 0
