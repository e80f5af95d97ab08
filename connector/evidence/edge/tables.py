"""The evidence tables (store migration 5) and the only SQL that touches them.

Every function takes the store's connection (a `sqlite_utils.Database`) and runs on the store thread inside the
transaction the caller opened. Rows are only ever inserted: the tables carry triggers that refuse UPDATE and
DELETE, and `evidence_records` refuses any insert that does not extend the chain by exactly one record.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from connector.evidence.chain import GENESIS, ChainHead, Record
from connector.records.evidence import StoredCheckpoint, StoredSignature, StoredTimestamp, row_json

Db = Any  # sqlite_utils.Database on the store thread

RECORDS = "evidence_records"
SUBJECTS = "evidence_subjects"
CHECKPOINTS = "evidence_checkpoints"
TIMESTAMPS = "evidence_timestamps"
SIGNATURES = "agreement_signatures"

_RECORD_COLUMNS = "seq, at, kind, process_id, peer, subject_sha256, data, prev, hash"


# --- records ----------------------------------------------------------------------------------------------


def insert_record(db: Db, record: Record) -> None:
    # `data` is kept as plain JSON: its hash is recomputed from the parsed value, in canonical form, on reading.
    # The record's canonical form of it is that JSON (the same text json.dumps writes for plain data), already made.
    db.execute(
        f"INSERT INTO {RECORDS}({_RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            record.seq,
            record.at,
            record.kind,
            record.process_id,
            record.peer,
            record.subject_sha256,
            record.data_json.decode("utf-8"),
            record.prev,
            record.hash,
        ],
    )


def head(db: Db) -> ChainHead:
    """The committed head as the table holds it (GENESIS for an empty log)."""
    row = db.execute(f"SELECT seq, hash FROM {RECORDS} ORDER BY seq DESC LIMIT 1").fetchone()
    return ChainHead(0, GENESIS) if row is None else ChainHead(int(row[0]), str(row[1]))


def last_hash_of(db: Db, process_id: str) -> str | None:
    """The hash of the latest record about `process_id`, or None."""
    row = db.execute(
        f"SELECT hash FROM {RECORDS} WHERE process_id = ? ORDER BY seq DESC LIMIT 1", [process_id]
    ).fetchone()
    return None if row is None else str(row[0])


def count(db: Db) -> int:
    row = db.execute(f"SELECT COUNT(*) FROM {RECORDS}").fetchone()
    return int(row[0])


def record_rows(db: Db, first: int, last: int | None = None, batch: int = 2000) -> Iterator[dict[str, Any]]:
    """Rows with first <= seq (<= last), ascending, read in batches (the log can be large)."""
    after = first - 1
    while True:
        bound = "" if last is None else " AND seq <= ?"
        params: list[Any] = [after] + ([] if last is None else [last]) + [batch]
        rows = db.execute(
            f"SELECT {_RECORD_COLUMNS} FROM {RECORDS} WHERE seq > ?{bound} ORDER BY seq LIMIT ?", params
        ).fetchall()
        if not rows:
            return
        for row in rows:
            yield row_json(row)
        after = rows[-1]["seq"]


def records_of(db: Db, process_ids: list[str]) -> list[dict[str, Any]]:
    """Every record about these processes, ascending."""
    if not process_ids:
        return []
    marks = ", ".join("?" for _ in process_ids)
    rows = db.execute(
        f"SELECT {_RECORD_COLUMNS} FROM {RECORDS} WHERE process_id IN ({marks}) ORDER BY seq", process_ids
    ).fetchall()
    return [row_json(r) for r in rows]


def unannounced_since(db: Db, seq: int, quiet_kinds: tuple[str, ...]) -> bool:
    """Whether any record after `seq` is of a kind other than `quiet_kinds` (those a checkpoint itself adds)."""
    marks = ", ".join("?" for _ in quiet_kinds)
    row = db.execute(
        f"SELECT 1 FROM {RECORDS} WHERE seq > ? AND kind NOT IN ({marks}) LIMIT 1", [seq, *quiet_kinds]
    ).fetchone()
    return row is not None


# --- subjects ---------------------------------------------------------------------------------------------


def insert_subject(db: Db, sha256: str, body: bytes) -> None:
    db.execute(
        f"INSERT INTO {SUBJECTS}(sha256, body) VALUES (?, ?) ON CONFLICT(sha256) DO NOTHING",
        [sha256, body.decode("utf-8")],
    )


def subjects(db: Db, hashes: list[str]) -> dict[str, str]:
    """The stored canonical bodies of these subjects (those absent are left out)."""
    found: dict[str, str] = {}
    for start in range(0, len(hashes), 500):
        chunk = hashes[start : start + 500]
        marks = ", ".join("?" for _ in chunk)
        for row in db.execute(f"SELECT sha256, body FROM {SUBJECTS} WHERE sha256 IN ({marks})", chunk):
            found[row[0]] = row[1]
    return found


def subject_rows(db: Db, batch: int = 1000) -> Iterator[tuple[str, Any]]:
    after = ""
    while True:
        rows = db.execute(
            f"SELECT sha256, body FROM {SUBJECTS} WHERE sha256 > ? ORDER BY sha256 LIMIT ?", [after, batch]
        ).fetchall()
        if not rows:
            return
        for row in rows:
            yield str(row[0]), row[1]
        after = rows[-1][0]


# --- checkpoints and time-stamps --------------------------------------------------------------------------


def insert_checkpoint(db: Db, count_: int, head_hash: str, at: str, jws: str) -> int:
    cursor = db.execute(
        f"INSERT INTO {CHECKPOINTS}(count, head, at, jws) VALUES (?, ?, ?, ?)", [count_, head_hash, at, jws]
    )
    return int(cursor.lastrowid)


def checkpoints(db: Db) -> list[StoredCheckpoint]:
    rows = db.execute(f"SELECT id, count, head, at, jws FROM {CHECKPOINTS} ORDER BY id").fetchall()
    return [StoredCheckpoint.from_row(r) for r in rows]


def latest_checkpoint(db: Db) -> StoredCheckpoint | None:
    row = db.execute(f"SELECT id, count, head, at, jws FROM {CHECKPOINTS} ORDER BY id DESC LIMIT 1").fetchone()
    return None if row is None else StoredCheckpoint.from_row(row)


def checkpoint_covering(db: Db, seq: int) -> StoredCheckpoint | None:
    """The first checkpoint that commits to record `seq` (the shortest proof and the earliest trusted time)."""
    row = db.execute(
        f"SELECT id, count, head, at, jws FROM {CHECKPOINTS} WHERE count >= ? ORDER BY id LIMIT 1", [seq]
    ).fetchone()
    return None if row is None else StoredCheckpoint.from_row(row)


def get_checkpoint(db: Db, checkpoint_id: int) -> StoredCheckpoint | None:
    row = db.execute(f"SELECT id, count, head, at, jws FROM {CHECKPOINTS} WHERE id = ?", [checkpoint_id]).fetchone()
    return None if row is None else StoredCheckpoint.from_row(row)


def insert_timestamp(db: Db, stamp: StoredTimestamp) -> None:
    db.execute(
        f"INSERT INTO {TIMESTAMPS}(checkpoint_id, gen_time, tsa, serial, token) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        [stamp.checkpoint_id, stamp.gen_time, stamp.tsa, stamp.serial, stamp.token],
    )


def timestamps(db: Db, checkpoint_id: int | None = None) -> list[StoredTimestamp]:
    where, params = ("WHERE checkpoint_id = ?", [checkpoint_id]) if checkpoint_id is not None else ("", [])
    rows = db.execute(
        f"SELECT checkpoint_id, gen_time, tsa, serial, CAST(token AS BLOB) FROM {TIMESTAMPS} {where} "
        "ORDER BY checkpoint_id, gen_time",
        params,
    ).fetchall()
    return [StoredTimestamp(int(r[0]), str(r[1]), str(r[2]), str(r[3]), bytes(r[4])) for r in rows]


# --- agreement signatures ---------------------------------------------------------------------------------


def put_signature(db: Db, signature: StoredSignature) -> bool:
    """Keep the first signature seen per agreement and role; True if this one was stored."""
    cursor = db.execute(
        f"INSERT INTO {SIGNATURES}(agreement_id, role, status, signer, jws, code, reason, at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(agreement_id, role) DO NOTHING",
        [
            signature.agreement_id,
            signature.role,
            signature.status,
            signature.signer,
            signature.jws,
            signature.code,
            signature.reason,
            signature.at,
        ],
    )
    return cursor.rowcount == 1


def signatures_of(db: Db, agreement_id: str) -> dict[str, StoredSignature]:
    rows = db.execute(
        f"SELECT agreement_id, role, status, signer, jws, code, reason, at FROM {SIGNATURES} WHERE agreement_id = ?",
        [agreement_id],
    ).fetchall()
    return {str(r[1]): StoredSignature(*[r[i] for i in range(8)]) for r in rows}


def signature_rows(db: Db) -> list[StoredSignature]:
    rows = db.execute(
        f"SELECT agreement_id, role, status, signer, jws, code, reason, at FROM {SIGNATURES} "
        "ORDER BY agreement_id, role"
    ).fetchall()
    return [StoredSignature(*[r[i] for i in range(8)]) for r in rows]


def table_exists(db: Db, name: str) -> bool:
    row = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]).fetchone()
    return row is not None
