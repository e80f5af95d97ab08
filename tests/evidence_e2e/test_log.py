"""The stored log: SQL cannot change it, and a change made behind the node's back is found and named."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from evidence_e2e.kit import drop_triggers, open_store
from nodekit import cli

from connector import keys
from connector.evidence.edge.log_check import check_log
from connector.records.evidence import row_json
from connector.records.packing import pack
from connector.store.sql import evidence as tables
from connector.store.sqlite import SqliteTx


@pytest.fixture
def copy(exchange, tmp_path: Path):
    """A copy of the consumer's stopped store, its configuration, and a function checking it in place."""
    config = exchange.copy_node("consumer", tmp_path)
    store = tmp_path / "var-consumer" / "connector.sqlite"
    anchors = [keys.load_certificate(exchange.federation.authority.ca_cert_path)]

    def check():
        conn = open_store(store)
        try:
            return check_log(SqliteTx(conn), exchange.consumer.participant_id, anchors, anchors, datetime.now(UTC))
        finally:
            conn.close()

    return config, store, check


def test_the_stored_log_of_each_node_is_intact(exchange):
    anchors = [keys.load_certificate(exchange.federation.authority.ca_cert_path)]
    for who, path in exchange.store_files.items():
        conn = open_store(path)
        participant = exchange.provider if who == "provider" else exchange.consumer
        result = check_log(SqliteTx(conn), participant.participant_id, anchors, anchors, datetime.now(UTC))
        conn.close()
        assert result.ok, (who, result.problems)
        assert result.records > 10 and result.checkpoints >= 1 and result.timestamps >= 1 and result.signatures == 4


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE evidence_records SET kind = 'state.changed' WHERE seq = 2",
        "DELETE FROM evidence_records WHERE seq = (SELECT MAX(seq) FROM evidence_records)",
        "UPDATE evidence_blobs SET body = '{}'",
        "DELETE FROM evidence_blobs",
        "DELETE FROM evidence_checkpoints",
        "UPDATE evidence_timestamps SET gen_time = '2000-01-01T00:00:00.000000Z'",
        "DELETE FROM agreement_signatures",
        "INSERT INTO evidence_records(seq, at, kind, data, prev, hash) VALUES (1, 'x', 'x', '{}', 'x', 'x')",
        "INSERT INTO evidence_records(seq, at, kind, data, prev, hash) "
        "SELECT MAX(seq) + 1, 'x', 'x', '{}', '0000', 'x' FROM evidence_records",
    ],
)
def test_update_delete_and_out_of_chain_inserts_are_refused_by_the_store(copy, statement):
    _, store, check = copy
    conn = open_store(store)
    with pytest.raises(sqlite3.IntegrityError, match="evidence"):
        conn.execute(statement)
    conn.close()
    assert check().ok


def test_a_row_changed_behind_the_node_s_back_is_found_by_evidence_check(copy):
    config, store, _ = copy
    conn = open_store(store)
    drop_triggers(conn)
    seq = conn.execute("SELECT MIN(seq) FROM evidence_records WHERE kind = 'dsp.received'").fetchone()[0]
    row = conn.execute("SELECT * FROM evidence_records WHERE seq = ?", [seq]).fetchone()
    forged = {**row_json(row)["data"], "type": "Forged"}  # in the form the node keeps it: packed
    conn.execute(
        "UPDATE evidence_records SET packed = ? WHERE seq = ?",
        [pack(json.dumps(forged, sort_keys=True, separators=(",", ":"))), seq],
    )
    conn.commit()
    conn.close()
    ran = cli("evidence", "check", "--config", str(config))  # no node runs: the store file is read directly
    assert ran.returncode == 1, ran.stdout + ran.stderr
    assert f"FIRST BROKEN LINK [chain.altered] (seq {seq})" in ran.stdout
    as_json = cli("evidence", "check", "--config", str(config), "--json")
    assert json.loads(as_json.stdout)["firstBreak"]["details"]["seq"] == seq


def test_records_removed_from_the_end_are_found_through_the_checkpoint(copy):
    _, store, check = copy
    conn = open_store(store)
    drop_triggers(conn)
    last_checkpoint = conn.execute("SELECT MAX(count) FROM evidence_checkpoints").fetchone()[0]
    conn.execute("DELETE FROM evidence_records WHERE seq >= ?", [last_checkpoint - 1])
    conn.close()
    result = check()
    assert result.first_break is not None and result.first_break.code == "chain.truncated"


def test_a_record_removed_in_the_middle_is_found(copy):
    _, store, check = copy
    conn = open_store(store)
    drop_triggers(conn)
    conn.execute("DELETE FROM evidence_records WHERE seq = 5")
    conn.close()
    result = check()
    assert result.first_break is not None and result.first_break.code == "chain.missing"
    assert result.records == 4


def test_a_rewritten_log_is_found_through_the_checkpoint(copy):
    """Someone recomputes every hash after changing a record: the chain is consistent, the checkpoint is not."""
    from connector.evidence.chain import Record, make_record

    _, store, check = copy
    conn = open_store(store)
    drop_triggers(conn)
    rows = list(tables.record_rows(SqliteTx(conn), 1))  # as the node reads them
    previous = None
    for row in rows:
        record = Record.from_json(row)
        data = dict(record.data)
        if record.seq == 3:
            data["reason"] = "rewritten"
        new = make_record(
            previous,
            at=record.at_datetime,
            kind=record.kind,
            process_id=record.process_id,
            peer=record.peer,
            subject_sha256=record.subject_sha256,
            data=data,
        )
        conn.execute(
            "UPDATE evidence_records SET packed = ?, prev = ?, hash = ? WHERE seq = ?",
            [pack(new.data_json.decode()), new.prev, new.hash, new.seq],
        )
        previous = new
    conn.close()
    result = check()
    assert result.first_break is not None and result.first_break.code == "chain.diverged"


@pytest.mark.parametrize(
    "statement, code",
    [
        (
            "UPDATE evidence_blobs SET body = '{\"forged\":true}' "
            "WHERE sha256 = (SELECT sha256 FROM evidence_blobs LIMIT 1)",
            "subject.altered",
        ),
        (  # a packing that no longer unpacks
            "UPDATE evidence_blobs SET packed = x'01ff' WHERE sha256 = (SELECT sha256 FROM evidence_blobs LIMIT 1)",
            "subject.altered",
        ),
        ("UPDATE evidence_records SET packed = x'01ff' WHERE seq = 3", "chain.malformed"),
        (  # a subject a record names, removed (archiving removes only those no live record needs)
            "DELETE FROM evidence_blobs WHERE sha256 = "
            "(SELECT subject_sha256 FROM evidence_records WHERE kind = 'dsp.received' LIMIT 1)",
            "subject.missing",
        ),
        (
            "UPDATE agreement_signatures "
            "SET jws = (SELECT jws FROM agreement_signatures WHERE role = 'consumer' LIMIT 1) "
            "WHERE role = 'provider'",
            "signature.unlogged",
        ),
        (
            "UPDATE evidence_checkpoints SET head = '0000000000000000000000000000000000000000000000000000000000000000'",
            "checkpoint.row_altered",
        ),
        (
            "UPDATE evidence_timestamps SET token = CAST(substr(token, 1, length(token) - 1) || x'00' AS BLOB)",
            "timestamp.signature",
        ),
    ],
)
def test_changed_checkpoints_time_stamps_subjects_and_signatures_are_found(copy, statement, code):
    _, store, check = copy
    conn = open_store(store)
    drop_triggers(conn)
    conn.execute(statement)
    conn.close()
    result = check()
    assert code in [p.code for p in result.problems], result.problems


@pytest.mark.parametrize("body", ['{"forged":true}', "not json"])
def test_a_kept_signature_changed_into_something_else_is_named_not_a_crash(copy, body):
    _, store, check = copy
    conn = open_store(store)
    drop_triggers(conn)
    conn.execute(
        "UPDATE evidence_blobs SET body = ? WHERE sha256 = "
        "(SELECT substr(jws, length(jws) - 63) FROM agreement_signatures WHERE role = 'provider')",
        [body],
    )
    assert conn.total_changes == 1
    conn.commit()
    conn.close()
    codes = [p.code for p in check().problems]
    assert "subject.altered" in codes and "signature.unlogged" in codes, codes
