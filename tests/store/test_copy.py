"""Copying a store between SQLite and PostgreSQL: every row of every table, keys and counters kept, the chain
checked record by record, and nothing written when anything is wrong."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from store.kit import agreement, asset, at, negotiation, offer, policy, transfer

from connector.errors import ConnectorError
from connector.evidence.chain import verify_chain
from connector.evidence.edge.journal import Journal
from connector.records.evidence import UNSIGNED, StoredSignature, StoredTimestamp
from connector.records.flows import Flow, KnownDigest
from connector.records.trust import VerificationRecord
from connector.store.copy import TABLES, copy_rows, occupied, reading, writing
from connector.store.interface import Tx
from connector.store.postgres import PostgresStore
from connector.store.sql import definitions, evidence, flows, processes, settings, trust
from connector.store.sqlite import SqliteStore


def _enqueue(tx: Tx) -> int:
    return processes.enqueue(tx, "negotiation", "n1", "did:web:peer", "https://peer/dsp", "M", {"a": 1}, at(0), at(9))


def _fill(tx: Tx) -> int:
    """A little of everything a node keeps; returns the highest outbox key handed out (its row is gone)."""
    definitions.insert_asset(tx, asset("weather", title="Wetter °C"))
    definitions.insert_policy(tx, policy("use"))
    definitions.insert_offer(tx, offer("o-weather", "weather", "use"))
    processes.save_negotiation(tx, negotiation("n1", offer={"@id": "o-weather"}))
    processes.save_agreement(tx, agreement("a1", "n1"))
    processes.save_transfer(tx, transfer("t1", "a1"))
    processes.append_history(tx, "negotiation", "n1", at(1), None, "REQUESTED", "received")
    processes.append_history(tx, "negotiation", "n1", at(2), "REQUESTED", "AGREED", "sent", detail={"x": 1})
    keys = [_enqueue(tx) for _ in range(3)]
    processes.outbox_done(tx, keys[-1])  # delivered: the highest key is no longer in any row
    processes.remember_response(tx, "did:web:peer", "m1", "n1", 201, {"ok": True}, at(3))
    trust.remember_jti(tx, "did:web:issuer", "jti-1", at(600), at(0))
    for i in range(2):
        trust.record_verification(
            tx, VerificationRecord(f"t{i}", "did:web:peer", "verified", None, None, "token", "POST", "/x", f"r{i}", {})
        )
    settings.put_setting(tx, "node.k", "v")
    flows.save_flow(tx, Flow("t1", "provider", "pull", at(0), size=2**40, bytes_sent=2**33, sha256="ab" * 32))
    flows.put_digest(tx, "file:/data/w.csv", "etag-1", KnownDigest("cd" * 32, 2**35, "text/csv"), at(0))
    journal = Journal()
    journal.load(tx)
    for i in range(7):
        journal.append(tx, "test.appended", process_id="n1", peer="did:web:peer", subject={"i": i}, data={"i": i})
    checkpoint = evidence.insert_checkpoint(tx, 7, journal.head.hash, "2030-01-01", "jws")
    evidence.insert_timestamp(tx, StoredTimestamp(checkpoint, "2030-01-01", "tsa", "1", bytes(range(256))))
    evidence.put_signature(tx, StoredSignature("a1", "provider", UNSIGNED, "did:web:p", None, "c", "why", "2030"))
    return keys[-1]


def _dump(tx: Tx) -> dict[str, list[tuple[Any, ...]]]:
    dumped = {}
    for table, key in TABLES:
        rows = tx.execute(f"SELECT * FROM {table} ORDER BY {', '.join(key)}").fetchall()
        dumped[table] = [tuple(dict(row).items()) for row in rows]
    return dumped


async def _sqlite_source(path: Path) -> int:
    store = SqliteStore(path)
    await store.open()
    try:
        return await store.run(_fill)
    finally:
        await store.close()


async def test_a_store_goes_to_postgresql_and_back_row_for_row_and_keys_keep_counting(tmp_path, postgres_url):
    source = tmp_path / "node.sqlite"
    highest = await _sqlite_source(source)

    with reading(source) as src, writing(postgres_url) as dst:
        copied = copy_rows(src, dst)
    assert copied.tables["evidence_records"] == 7 and copied.tables["outbox"] == 2 and copied.rows > 20
    assert set(copied.tables) == {table for table, _ in TABLES}
    with reading(source) as src, reading(postgres_url) as dst:
        original = _dump(src)
        assert _dump(dst) == original
        assert verify_chain(list(evidence.record_rows(dst, 1))).ok

    store = PostgresStore(postgres_url)
    await store.open()
    try:
        assert await store.run(_enqueue) == highest + 1  # never a key handed out before
    finally:
        await store.close()

    back = tmp_path / "back" / "node.sqlite"
    with reading(postgres_url) as src, writing(back) as dst:
        copy_rows(src, dst)
    with reading(postgres_url) as src, reading(back) as dst:
        assert _dump(dst) == _dump(src)
    store2 = SqliteStore(back)
    await store2.open()
    try:
        assert await store2.run(_enqueue) == highest + 2
    finally:
        await store2.close()


async def test_a_target_holding_any_row_is_refused_and_left_as_it_was(tmp_path):
    source, target = tmp_path / "a.sqlite", tmp_path / "b.sqlite"
    await _sqlite_source(source)
    store = SqliteStore(target)
    await store.open()
    await store.run(settings.put_setting, "mine", "1")
    await store.close()
    with pytest.raises(ConnectorError) as err:
        with reading(source) as src, writing(target) as dst:
            copy_rows(src, dst)
    assert err.value.code == "store.not_empty" and "settings (1)" in err.value.reason
    with reading(target) as tx:
        assert occupied(tx) == {"settings": 1}


async def test_a_source_whose_chain_is_broken_is_not_copied(tmp_path, postgres_url):
    source = tmp_path / "node.sqlite"
    await _sqlite_source(source)
    conn = sqlite3.connect(source, isolation_level=None)
    conn.execute("DROP TRIGGER evidence_records_no_update")
    conn.execute("UPDATE evidence_records SET data = '{\"i\": 99}' WHERE seq = 4")  # its hash no longer follows
    conn.execute("UPDATE evidence_records SET prev = hash WHERE seq = 5")  # no longer the hash of record 4
    conn.close()
    for target in (postgres_url, str(tmp_path / "new.sqlite")):
        with pytest.raises(ConnectorError) as err:
            with reading(source) as src, writing(target) as dst:
                copy_rows(src, dst)
        assert err.value.code == "store.broken_chain", target
    assert not (tmp_path / "new.sqlite").exists()  # made for the copy, removed with it
    with reading(postgres_url) as tx:
        assert occupied(tx) == {}


async def test_a_source_of_another_schema_version_or_none_is_refused(tmp_path):
    with pytest.raises(ConnectorError) as err:
        with reading(tmp_path / "nothing.sqlite"):
            pass
    assert err.value.code == "store.missing"
    source = tmp_path / "node.sqlite"
    await _sqlite_source(source)
    conn = sqlite3.connect(source, isolation_level=None)
    conn.execute("INSERT INTO schema_history(version, description, applied_at) VALUES (99, 'future', 'now')")
    conn.close()
    with pytest.raises(ConnectorError) as err:
        with reading(source):
            pass
    assert err.value.code == "store.version" and "use a newer program" in err.value.reason


async def test_every_table_the_migrations_create_is_copied(tmp_path, postgres_migrated_url):
    await _sqlite_source(tmp_path / "node.sqlite")
    copied = {table for table, _ in TABLES} | {"schema_history"}
    with reading(tmp_path / "node.sqlite") as tx:
        names = tx.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        assert {row[0] for row in names} == copied
    with reading(postgres_migrated_url) as tx:
        names = tx.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
        assert {row[0] for row in names} == copied
