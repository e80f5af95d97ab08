"""The statements of the evidence tables: the hash-chained records, their subjects, signed checkpoints, their
time-stamps, agreement signatures, and the archives older records were moved to.

Rows are only ever inserted: the tables refuse UPDATE and DELETE, and `evidence_records` refuses any insert that
does not extend the chain by exactly one record (migration 5). The one exception is `remove_archived`: in the
transaction that records an archive, the records it holds, the checkpoints before its own and the subjects only
its records name may go (migration 9).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from connector.canonical import canonical_bytes
from connector.evidence.chain import GENESIS, ChainHead, Record
from connector.records import content, packing
from connector.records.evidence import StoredArchive, StoredCheckpoint, StoredSignature, StoredTimestamp, row_json
from connector.store.interface import Tx
from connector.store.migrations import CHAIN_LOCK, SPELLINGS
from connector.store.sql.content import EVIDENCE as BLOBS
from connector.store.sql.content import compacted, expanded, put_rows, rows_of, stored_row
from connector.store.sql.rows import BATCH, batches
from connector.store.sqlite import store_error

RECORDS = "evidence_records"
SUBJECTS = "evidence_subjects"
CHECKPOINTS = "evidence_checkpoints"
TIMESTAMPS = "evidence_timestamps"
SIGNATURES = "agreement_signatures"
ARCHIVES = "evidence_archives"


# A record's `prev` is the hash of the record before it (or the head of the archive the live log continues, or
# GENESIS): the node stores it as '' and it is read back from there. `_PREV` is that value for the row `r`.
def _prev_of(seq: str) -> str:
    return (
        f"COALESCE((SELECT p.hash FROM {RECORDS} p WHERE p.seq = {seq} - 1), "
        f"(SELECT a.head FROM {ARCHIVES} a WHERE a.last_seq = {seq} - 1), '{GENESIS}')"
    )


_PREV = f"CASE WHEN r.prev <> '' THEN r.prev ELSE {_prev_of('r.seq')} END"
_RECORD_COLUMNS = (
    f"r.seq, r.at, r.kind, r.process_id, r.peer, r.subject_sha256, r.data, {_PREV} AS prev, r.hash, r.packed"
)


# A record whose `prev` follows the chain is stored with '' there; one whose `prev` does not is stored with it in
# full, for the chain's trigger to refuse (it checks the seq of every record, and a `prev` that is not '').
_INSERT_RECORD = (
    f"INSERT INTO {RECORDS}(seq, at, kind, process_id, peer, subject_sha256, data, prev, hash, packed) "
    "VALUES (?, ?, ?, ?, ?, ?, '', "
    f"CASE WHEN CAST(? AS TEXT) = {_prev_of('CAST(? AS BIGINT)')} THEN '' ELSE CAST(? AS TEXT) END, ?, ?)"
)


# --- records ----------------------------------------------------------------------------------------------


def insert_record(tx: Tx, record: Record) -> None:
    """Append `record`; the chain's trigger refuses one that does not follow the last one."""
    # `data` is kept as its canonical JSON, packed (connector.records.packing), with an empty `data` column: its hash
    # is recomputed from the parsed value, in canonical form, on reading. `prev` is the hash of the record before.
    tx.execute(
        _INSERT_RECORD,
        [
            record.seq,
            record.at,
            record.kind,
            record.process_id,
            record.peer,
            record.subject_sha256,
            record.prev,
            record.seq,  # twice: the record before, or the archive the log continues
            record.seq,
            record.prev,
            record.hash,
            packing.pack(record.data_json.decode("utf-8")),
        ],
    )


def insert_record_checked(tx: Tx, record: Record) -> None:
    """`insert_record`, raising StoreConflict when the chain's guard refuses it (the record does not follow the
    last one), with the transaction still usable. SQLite undoes a refused statement alone and carries on, so a
    savepoint (two statements more per record) is needed only where a refusal spoils the transaction."""
    if tx.dialect != "sqlite":
        with tx.savepoint():
            insert_record(tx, record)
        return
    try:
        insert_record(tx, record)
    except Exception as exc:  # the driver's own error, as the store's (StoreConflict for the guard's refusal)
        error = store_error(exc)
        if error is exc:
            raise
        raise error from exc


def lock_chain(tx: Tx) -> None:
    """Hold the chain's lock until the transaction ends, so that the head read next stays the head until this
    transaction appends to it. PostgreSQL only: there the chain trigger takes the same lock, and other connections
    append concurrently; an SQLite write transaction holds the whole database already."""
    if tx.dialect == "postgresql":
        tx.execute("SELECT pg_advisory_xact_lock(?)", [CHAIN_LOCK])


HEAD = f"SELECT seq, hash FROM {RECORDS} ORDER BY seq DESC LIMIT 1"


def head(tx: Tx) -> ChainHead:
    """The committed head as the table holds it (GENESIS for an empty log)."""
    return head_of(tx.execute(HEAD).fetchone())


def head_of(row: Any) -> ChainHead:
    """The head from a row of `HEAD` (None: the log is empty)."""
    return ChainHead(0, GENESIS) if row is None else ChainHead(int(row[0]), str(row[1]))


def last_hash_of(tx: Tx, process_id: str) -> str | None:
    """The hash of the latest record about `process_id`, or None."""
    row = tx.execute(
        f"SELECT hash FROM {RECORDS} WHERE process_id = ? ORDER BY seq DESC LIMIT 1", [process_id]
    ).fetchone()
    return None if row is None else str(row[0])


def last_seq_of(tx: Tx, process_ids: list[str]) -> int:
    """The highest seq of a record about any of these processes (0 if none)."""
    if not process_ids:
        return 0
    marks = ", ".join("?" for _ in process_ids)
    row = tx.execute(f"SELECT MAX(seq) FROM {RECORDS} WHERE process_id IN ({marks})", process_ids).fetchone()
    return int(row[0] or 0)


def count(tx: Tx) -> int:
    row = tx.execute(f"SELECT COUNT(*) FROM {RECORDS}").fetchone()
    return int(row[0])


def record_rows(tx: Tx, first: int, last: int | None = None, batch: int = 2000) -> Iterator[dict[str, Any]]:
    """Rows with first <= seq (<= last), ascending, read in batches (the log can be large)."""
    after = first - 1
    while True:
        bound = "" if last is None else " AND r.seq <= ?"
        params: list[Any] = [after] + ([] if last is None else [last]) + [batch]
        rows = tx.execute(
            f"SELECT {_RECORD_COLUMNS} FROM {RECORDS} r WHERE r.seq > ?{bound} ORDER BY r.seq LIMIT ?", params
        ).fetchall()
        if not rows:
            return
        for row in rows:
            yield row_json(row)
        after = rows[-1]["seq"]


def records_of(tx: Tx, process_ids: list[str]) -> list[dict[str, Any]]:
    """Every record about these processes, ascending."""
    if not process_ids:
        return []
    marks = ", ".join("?" for _ in process_ids)
    rows = tx.execute(
        f"SELECT {_RECORD_COLUMNS} FROM {RECORDS} r WHERE r.process_id IN ({marks}) ORDER BY r.seq", process_ids
    ).fetchall()
    return [row_json(r) for r in rows]


def unannounced_since(tx: Tx, seq: int, quiet_kinds: tuple[str, ...]) -> bool:
    """Whether any record after `seq` is of a kind other than `quiet_kinds` (those a checkpoint itself adds)."""
    marks = ", ".join("?" for _ in quiet_kinds)
    row = tx.execute(
        f"SELECT 1 FROM {RECORDS} WHERE seq > ? AND kind NOT IN ({marks}) LIMIT 1", [seq, *quiet_kinds]
    ).fetchone()
    return row is not None


def subject_hashes(tx: Tx, kind: str, peer: str) -> list[str]:
    """The distinct subject hashes of the records of `kind` about `peer`."""
    rows = tx.execute(
        f"SELECT DISTINCT subject_sha256 FROM {RECORDS} WHERE kind = ? AND peer = ? AND subject_sha256 IS NOT NULL",
        [kind, peer],
    ).fetchall()
    return [row[0] for row in rows]


# --- subjects ---------------------------------------------------------------------------------------------


# Subjects are kept in `evidence_blobs`, each large part of them once (connector.records.content): a message and
# the agreement it carries, a signature and the certificates in its header, a presentation and its credentials.
# `evidence_subjects` holds those of stores written before, read as they are.


def _canonical_text(value: Any) -> str:
    return canonical_bytes(value).decode("utf-8")


def insert_subject(tx: Tx, sha256: str, body: bytes, value: Any = None) -> None:
    """Keep a subject's canonical body (`value`, when given, is the JSON value it is the canonical form of: its
    large parts are then kept once each)."""
    text = body.decode("utf-8")
    row, parts = (text, {}) if value is None else compacted(value, text, _canonical_text)
    put_rows(tx, BLOBS, {**parts, sha256: row})


def subjects(tx: Tx, hashes: list[str]) -> dict[str, str]:
    """The stored canonical bodies of these subjects (those absent, or whose parts are missing, are left out)."""
    cache: dict[str, str] = {}
    found: dict[str, str] = {}
    for sha, row in rows_of(tx, BLOBS, hashes).items():
        try:
            found[sha] = expanded(tx, BLOBS, row, cache)
        except LookupError:
            continue
    missing = [h for h in hashes if h not in found]
    if missing:
        found.update(rows_of(tx, SUBJECTS, missing))
    return found


def subjects_held(tx: Tx, hashes: list[str]) -> set[str]:
    """Which of these subjects the store keeps (in either table; whether whole is `subject_rows`' question)."""
    found: set[str] = set()
    for chunk, marks in batches(hashes):
        for table in (BLOBS, SUBJECTS):
            found.update(
                str(row[0]) for row in tx.execute(f"SELECT sha256 FROM {table} WHERE sha256 IN ({marks})", chunk)
            )
    return found


def subject_rows(tx: Tx, batch: int = 1000) -> Iterator[tuple[str, Any]]:
    """Every kept subject and part, as the text it stands for (None for one whose parts are missing)."""
    after = ""
    while True:
        rows = tx.execute(
            f"SELECT sha256, body FROM {SUBJECTS} WHERE sha256 > ? ORDER BY sha256 LIMIT ?", [after, batch]
        ).fetchall()
        if not rows:
            break
        for row in rows:
            yield str(row[0]), row[1]
        after = rows[-1][0]
    cache: dict[str, str] = {}
    last = 0
    while True:
        rows = tx.execute(
            f"SELECT id, sha256, body, packed FROM {BLOBS} WHERE id > ? ORDER BY id LIMIT ?", [last, batch]
        ).fetchall()
        if not rows:
            return
        if len(cache) > 10_000:
            cache.clear()
        for row in rows:
            body = stored_row(row["body"], row["packed"])
            try:
                text = expanded(tx, BLOBS, body, cache) if isinstance(body, str) else body
            except LookupError:
                text = None
            yield str(row["sha256"]), text
        last = int(rows[-1]["id"])


# --- checkpoints and time-stamps --------------------------------------------------------------------------

_CHECKPOINT_COLUMNS = "id, count, head, at, jws"


def insert_checkpoint(tx: Tx, count_: int, head_hash: str, at: str, jws: str) -> int:
    cursor = tx.execute(
        f"INSERT INTO {CHECKPOINTS}(count, head, at, jws) VALUES (?, ?, ?, ?) RETURNING id",
        [count_, head_hash, at, jws],
    )
    return int(cursor.fetchone()[0])


def checkpoints(tx: Tx) -> list[StoredCheckpoint]:
    rows = tx.execute(f"SELECT {_CHECKPOINT_COLUMNS} FROM {CHECKPOINTS} ORDER BY id").fetchall()
    return [StoredCheckpoint.from_row(r) for r in rows]


def latest_checkpoint(tx: Tx) -> StoredCheckpoint | None:
    row = tx.execute(f"SELECT {_CHECKPOINT_COLUMNS} FROM {CHECKPOINTS} ORDER BY id DESC LIMIT 1").fetchone()
    return None if row is None else StoredCheckpoint.from_row(row)


def checkpoint_covering(tx: Tx, seq: int) -> StoredCheckpoint | None:
    """The first checkpoint that commits to record `seq` (the shortest proof and the earliest trusted time)."""
    row = tx.execute(
        f"SELECT {_CHECKPOINT_COLUMNS} FROM {CHECKPOINTS} WHERE count >= ? ORDER BY id LIMIT 1", [seq]
    ).fetchone()
    return None if row is None else StoredCheckpoint.from_row(row)


def get_checkpoint(tx: Tx, checkpoint_id: int) -> StoredCheckpoint | None:
    row = tx.execute(f"SELECT {_CHECKPOINT_COLUMNS} FROM {CHECKPOINTS} WHERE id = ?", [checkpoint_id]).fetchone()
    return None if row is None else StoredCheckpoint.from_row(row)


def insert_timestamp(tx: Tx, stamp: StoredTimestamp) -> None:
    tx.execute(
        f"INSERT INTO {TIMESTAMPS}(checkpoint_id, gen_time, tsa, serial, token) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        [stamp.checkpoint_id, stamp.gen_time, stamp.tsa, stamp.serial, stamp.token],
    )


def timestamps(tx: Tx, checkpoint_id: int | None = None) -> list[StoredTimestamp]:
    where, params = ("WHERE checkpoint_id = ?", [checkpoint_id]) if checkpoint_id is not None else ("", [])
    # Read as bytes whatever the column holds: a token stored otherwise (edited behind the node's back) must
    # still be reportable as one that does not verify.
    rows = tx.execute(
        f"SELECT checkpoint_id, gen_time, tsa, serial, CAST(token AS {SPELLINGS[tx.dialect]['bytes']}) AS token "
        f"FROM {TIMESTAMPS} {where} ORDER BY checkpoint_id, gen_time",
        params,
    ).fetchall()
    return [StoredTimestamp.from_row(r) for r in rows]


# --- agreement signatures ---------------------------------------------------------------------------------

_SIGNATURE_COLUMNS = "agreement_id, role, status, signer, jws, code, reason, at"


# A signature is kept as the hash of its JWS (as a JSON string) in `evidence_blobs`, the row the message that
# carried it shares, with the certificates of its header kept once: `REF` + the hash in the `jws` column.


def _jws_column(tx: Tx, jws: str | None) -> str | None:
    if jws is None:
        return None
    text = _canonical_text(jws)
    sha = content.sha256_text(text)
    insert_subject(tx, sha, text.encode("utf-8"), jws)
    return content.REF + sha


def _signature(tx: Tx, row: Any, cache: dict[str, str]) -> StoredSignature:
    stored = row["jws"]
    if isinstance(stored, str) and stored.startswith(content.REF):
        sha = stored[len(content.REF) :]
        found = rows_of(tx, BLOBS, [sha]).get(sha)
        try:
            text = expanded(tx, BLOBS, found, cache) if found is not None else None
        except LookupError:
            text = None
        # A JWS whose row is gone, or was changed into anything but a JSON string, reads as the reference itself:
        # no signature hash can match it.
        try:
            jws = json.loads(text) if text is not None else stored
        except ValueError:
            jws = stored
        row = {**dict(row), "jws": jws if isinstance(jws, str) else stored}
    return StoredSignature.from_row(row)


def put_signature(tx: Tx, signature: StoredSignature) -> bool:
    """Keep the first signature seen per agreement and role; True if this one was stored."""
    cursor = tx.execute(
        f"INSERT INTO {SIGNATURES}({_SIGNATURE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (agreement_id, role) DO NOTHING",
        [
            signature.agreement_id,
            signature.role,
            signature.status,
            signature.signer,
            _jws_column(tx, signature.jws),
            signature.code,
            signature.reason,
            signature.at,
        ],
    )
    return cursor.rowcount == 1


def signatures_of(tx: Tx, agreement_id: str) -> dict[str, StoredSignature]:
    rows = tx.execute(
        f"SELECT {_SIGNATURE_COLUMNS} FROM {SIGNATURES} WHERE agreement_id = ?", [agreement_id]
    ).fetchall()
    cache: dict[str, str] = {}
    return {str(r["role"]): _signature(tx, r, cache) for r in rows}


def signature_rows(tx: Tx) -> list[StoredSignature]:
    rows = tx.execute(f"SELECT {_SIGNATURE_COLUMNS} FROM {SIGNATURES} ORDER BY agreement_id, role").fetchall()
    cache: dict[str, str] = {}
    return [_signature(tx, r, cache) for r in rows]


# --- archives ---------------------------------------------------------------------------------------------

_ARCHIVE_COLUMNS = "first_seq, last_seq, head, checkpoint_id, file, sha256, at, jws"


def archives(tx: Tx) -> list[StoredArchive]:
    """The archives in the order they were made (each continues the one before)."""
    rows = tx.execute(f"SELECT id, {_ARCHIVE_COLUMNS} FROM {ARCHIVES} ORDER BY id").fetchall()
    return [StoredArchive.from_row(r) for r in rows]


def remove_archived(tx: Tx, archive: StoredArchive) -> int:
    """Record `archive` (its id is assigned here) and remove what it holds from the live log: its records, the
    checkpoints it covers before its own (with their time-stamps), and the subjects that only its records name.
    Its own checkpoint stays: the live log continues from the head it signed. The parts of subjects stay (they are
    shared with later records: an offer's rules, a signer's certificates), and so do agreement signatures (the
    proof of intent of agreements still in force), with the subjects they or live records still need.
    The guards allow these deletes only while the archive's id is in `evidence_removals`, i.e. in here."""
    cursor = tx.execute(
        f"INSERT INTO {ARCHIVES}({_ARCHIVE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [
            archive.first_seq,
            archive.last_seq,
            archive.head,
            archive.checkpoint_id,
            archive.file,
            archive.sha256,
            archive.at,
            archive.jws,
        ],
    )
    archive_id = int(cursor.fetchone()[0])
    tx.execute("INSERT INTO evidence_removals(archive_id) VALUES (?)", [archive_id])
    covered = f"SELECT id FROM {CHECKPOINTS} WHERE count <= ? AND id <> ?"
    tx.execute(
        f"DELETE FROM {TIMESTAMPS} WHERE checkpoint_id IN ({covered})", [archive.last_seq, archive.checkpoint_id]
    )
    tx.execute(f"DELETE FROM {CHECKPOINTS} WHERE count <= ? AND id <> ?", [archive.last_seq, archive.checkpoint_id])
    named = [
        str(row[0])
        for row in tx.execute(
            f"SELECT DISTINCT subject_sha256 FROM {RECORDS} WHERE seq <= ? AND subject_sha256 IS NOT NULL",
            [archive.last_seq],
        ).fetchall()
    ]
    tx.execute(f"DELETE FROM {RECORDS} WHERE seq <= ?", [archive.last_seq])
    if named:
        unneeded = sorted(set(named) - _still_needed(tx, named))
        for chunk, marks in batches(unneeded):
            for table in (BLOBS, SUBJECTS):
                tx.execute(f"DELETE FROM {table} WHERE sha256 IN ({marks})", chunk)
    tx.execute("DELETE FROM evidence_removals WHERE archive_id = ?", [archive_id])
    return archive_id


def _still_needed(tx: Tx, named: list[str]) -> set[str]:
    """Of the subjects `named` by archived records, those the live store still needs once these records are gone:
    named by a live record, kept as an agreement signature, or a part of what a live record names (a message whose
    record followed the archive's checkpoint, carrying the agreement an archived record named)."""
    needed: set[str] = set()
    for chunk, marks in batches(named):
        needed.update(
            str(row[0])
            for row in tx.execute(
                f"SELECT DISTINCT subject_sha256 FROM {RECORDS} WHERE subject_sha256 IN ({marks})", chunk
            )
        )
        refs = [content.REF + sha for sha in chunk]
        needed.update(
            str(row[0])[len(content.REF) :]
            for row in tx.execute(f"SELECT jws FROM {SIGNATURES} WHERE jws IN ({marks})", refs)
        )
    wanted = set(named) - needed
    # What the live records name, and the parts of those, followed down (a part read once however often shared).
    seen: set[str] = set()
    after = 0
    while wanted:
        rows = tx.execute(
            f"SELECT seq, subject_sha256 FROM {RECORDS} WHERE seq > ? AND subject_sha256 IS NOT NULL "
            "ORDER BY seq LIMIT ?",
            [after, BATCH],
        ).fetchall()
        if not rows:
            break
        after = int(rows[-1][0])
        frontier = {str(row[1]) for row in rows} - seen
        while frontier and wanted:
            seen |= frontier
            parts: set[str] = set()
            for row in rows_of(tx, BLOBS, sorted(frontier)).values():
                parts.update(content.references(row))
            needed |= parts & wanted
            wanted -= parts
            frontier = parts - seen
    return needed
