"""The trust tables (store migration 3), and the only SQL that touches them.

Every function takes the store's connection as its first argument and runs on the store thread, inside the
transaction `node.store.run` / `node.store.read` opened.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections import deque
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from connector.errors import ConnectorError
from connector.records.trust import KeptList, OwnCredential, VerificationRecord

Db = Any  # sqlite_utils.Database on the store thread

# Records beyond this many are pruned, oldest first (the log keeps every line anyway).
MAX_VERIFICATION_RECORDS = 100_000


def _epoch(moment: datetime) -> int:
    return math.ceil(moment.timestamp())


# --- replay cache ---------------------------------------------------------------------------------------------


def remember_jti(db: Db, issuer: str, jti: str, until: datetime, now: datetime) -> bool:
    """Insert (issuer, jti) unless an unexpired entry exists; True if inserted. One statement, so atomic."""
    cursor = db.execute(
        "INSERT INTO trust_replay(issuer, jti, until_epoch) VALUES (?, ?, ?) "
        "ON CONFLICT(issuer, jti) DO UPDATE SET until_epoch = excluded.until_epoch "
        "WHERE trust_replay.until_epoch <= ?",
        [issuer, jti, _epoch(until), math.floor(now.timestamp())],
    )
    return cursor.rowcount == 1


def purge_replay(db: Db, now: datetime) -> int:
    return db.execute("DELETE FROM trust_replay WHERE until_epoch <= ?", [math.floor(now.timestamp())]).rowcount


class StoreReplayCache:
    """The core's `ReplayCache` over the store. Usable only on the store thread while bound to a connection
    (`bound(db)`), which is how the verifier edge runs the one plan step that remembers a token."""

    def __init__(self) -> None:
        self._db: Db | None = None

    def bind(self, db: Db | None) -> None:
        self._db = db

    @contextlib.contextmanager
    def bound(self, db: Db) -> Iterator[None]:
        """Bound to `db` for the duration of the block."""
        self.bind(db)
        try:
            yield
        finally:
            self.bind(None)

    def remember(self, issuer: str, jti: str, until: datetime, now: datetime) -> bool:
        if self._db is None:
            raise ConnectorError(
                "token.replay_unavailable",
                "the replay cache is not reachable; refusing rather "
                "than accepting a token that may have been used before",
            )
        return remember_jti(self._db, issuer, jti, until, now)


# --- kept trust lists -----------------------------------------------------------------------------------------


def kept_list(db: Db, anchor_sha256: str) -> KeptList | None:
    row = db.execute(
        "SELECT anchor_sha256, federation_id, federation_name, sequence, valid_from, valid_until, "
        "sha256, jws, source, stored_at FROM trust_list_copies WHERE anchor_sha256 = ?",
        [anchor_sha256],
    ).fetchone()
    return KeptList(*row) if row else None


def keep_list(db: Db, copy: KeptList) -> None:
    """Store a verified list as the copy for its anchor. Never lowers the sequence (checked here as well as by
    the caller, so that two refreshes racing cannot roll the kept copy back)."""
    db.execute(
        "INSERT INTO trust_list_copies(anchor_sha256, federation_id, federation_name, sequence, valid_from, "
        "valid_until, sha256, jws, source, stored_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT(anchor_sha256) DO UPDATE SET federation_id = excluded.federation_id, "
        "federation_name = excluded.federation_name, sequence = excluded.sequence, valid_from = excluded.valid_from, "
        "valid_until = excluded.valid_until, sha256 = excluded.sha256, jws = excluded.jws, source = excluded.source, "
        "stored_at = excluded.stored_at WHERE excluded.sequence > trust_list_copies.sequence",
        [
            copy.anchor_sha256,
            copy.federation_id,
            copy.federation_name,
            copy.sequence,
            copy.valid_from,
            copy.valid_until,
            copy.sha256,
            copy.jws,
            copy.source,
            copy.stored_at,
        ],
    )


# --- own credentials --------------------------------------------------------------------------------------------


def replace_own_credentials(db: Db, credentials: Iterable[OwnCredential]) -> int:
    """The configured files are the truth: the stored set becomes exactly what they hold."""
    db.execute("DELETE FROM own_credentials")
    count = 0
    for c in credentials:
        db.execute(
            "INSERT OR REPLACE INTO own_credentials(id, types, issuer, valid_until, sha256, token, source, "
            "loaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [c.id, json.dumps(list(c.types)), c.issuer, c.valid_until, c.sha256, c.token, c.source, c.loaded_at],
        )
        count += 1
    return count


def own_credentials(db: Db) -> list[OwnCredential]:
    rows = db.execute(
        "SELECT id, types, issuer, valid_until, sha256, token, source, loaded_at FROM own_credentials ORDER BY id"
    ).fetchall()
    return [OwnCredential(r[0], tuple(json.loads(r[1])), r[2], r[3], r[4], r[5], r[6], r[7]) for r in rows]


# --- verification records ----------------------------------------------------------------------------------------


def record_verification(db: Db, record: VerificationRecord) -> int:
    cursor = db.execute(
        "INSERT INTO verifications(at, peer, outcome, code, reason, step, method, path, request_id, detail) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            record.at,
            record.peer,
            record.outcome,
            record.code,
            record.reason,
            record.step,
            record.method,
            record.path,
            record.request_id,
            json.dumps(dict(record.detail), default=str, sort_keys=True),
        ],
    )
    return int(cursor.lastrowid)


class PendingRecords:
    """Verification records waiting to be written, oldest first; at most `max_entries` (beyond, the oldest go).

    The verifier appends on the event loop; `write` drains on the store thread, inside a transaction the verifier
    runs anyway (a token's replay record) or a flush of its own. A deque: append and popleft are atomic, so a
    record is written once, and one not taken by a transaction that never ran stays for the next. A transaction
    that fails takes its records with it (the store is failing; every outcome's log line is written regardless).
    """

    def __init__(self, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._queue: deque[VerificationRecord] = deque(maxlen=max_entries)

    def add(self, record: VerificationRecord) -> None:
        self._queue.append(record)

    def __len__(self) -> int:
        return len(self._queue)

    def write(self, db: Db) -> int:
        """Insert every waiting record (store thread); how many were written."""
        written = 0
        while True:
            try:
                record = self._queue.popleft()
            except IndexError:
                return written
            record_verification(db, record)
            written += 1


def prune_verifications(db: Db, keep: int = MAX_VERIFICATION_RECORDS) -> int:
    return db.execute("DELETE FROM verifications WHERE id <= (SELECT MAX(id) FROM verifications) - ?", [keep]).rowcount


def list_verifications(
    db: Db, limit: int, offset: int, outcome: str | None = None, peer: str | None = None, code: str | None = None
) -> tuple[list[VerificationRecord], int]:
    """Newest first, filtered by outcome, peer and code (a code filter ending in '.' matches a prefix)."""
    where, args = [], []
    if outcome is not None:
        where.append("outcome = ?")
        args.append(outcome)
    if peer is not None:
        where.append("peer = ?")
        args.append(peer)
    if code is not None:
        if code.endswith("."):
            where.append("substr(code, 1, ?) = ?")
            args.extend([len(code), code])
        else:
            where.append("code = ?")
            args.append(code)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    total = db.execute(f"SELECT COUNT(*) FROM verifications{clause}", args).fetchone()[0]
    rows = db.execute(
        f"SELECT id, at, peer, outcome, code, reason, step, method, path, request_id, detail "
        f"FROM verifications{clause} ORDER BY id DESC LIMIT ? OFFSET ?",
        args + [limit, offset],
    ).fetchall()
    records = [
        VerificationRecord(
            at=r[1],
            peer=r[2],
            outcome=r[3],
            code=r[4],
            reason=r[5],
            step=r[6],
            method=r[7],
            path=r[8],
            request_id=r[9],
            detail=json.loads(r[10]),
            id=r[0],
        )
        for r in rows
    ]
    return records, int(total)
