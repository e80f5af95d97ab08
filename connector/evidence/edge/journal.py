"""The node's evidence chain in its store: appends inside the caller's transaction, the head kept in memory.

`Journal.append` runs on the store thread within whatever transaction the caller opened (a protocol step, a
credential check, a seal), so a record is committed exactly when the change it describes is, and rolled back
with it. The head is kept in memory so an append costs one insert. Where other processes append too (the node's
replicas on one PostgreSQL database), each write transaction hands the journal the committed head as it begins
(`follow`), read under the lock every write takes. A head left advanced by a transaction that was rolled back
afterwards (or passed by another process appending) is caught by the table's chain trigger on the next append,
which then re-reads the committed head under the chain's lock and retries once. The refused insert runs in a
savepoint, so that the transaction stays usable in PostgreSQL too. So the memory can be wrong only about records
that no longer exist, never about what is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from connector.canonical import canonical_bytes, sha256_hex
from connector.evidence.chain import GENESIS, PROCESS_PREV, ChainHead, Record, next_record
from connector.evidence.errors import EvidenceError
from connector.evidence.rfc3339 import format_utc
from connector.store.errors import StoreConflict
from connector.store.interface import Tx
from connector.store.sql import evidence as tables

Clock = Callable[[], datetime]
SUBJECT_UNUSABLE = "evidence.subject"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def subject_bytes(subject: Any) -> bytes:
    """The canonical bytes a subject is hashed and kept as (RFC 8785)."""
    try:
        return canonical_bytes(subject)
    except (ValueError, TypeError, RecursionError) as exc:
        raise EvidenceError(SUBJECT_UNUSABLE, f"the subject is not canonicalisable JSON ({exc})") from None


MAX_REMEMBERED_PROCESSES = 4096


class Journal:
    """Appends records to the node's chain. Use only on the store thread."""

    def __init__(self, clock: Clock = _utcnow) -> None:
        self.clock = clock
        self._head = ChainHead(0, GENESIS)
        self.appended = 0  # records appended by this process (a cheap activity signal)
        self._last: dict[str, str] | None = None  # process id -> hash of its latest record, when remembered

    def remember_processes(self) -> None:
        """Keep the hash of the latest record about each recently active process in memory too, sparing a
        look-up per append. Only for a store that calls `forget` whenever it rolls writes back."""
        self._last = {}

    def load(self, db: Tx) -> ChainHead:
        """Read the committed head (at start, and whenever memory turns out to be ahead of the store)."""
        self._head = tables.head(db)
        self.forget()
        return self._head

    def follow(self, row: Any) -> None:
        """A write transaction begins with this committed head (a row of `tables.HEAD`): when another process moved
        it on, take it, and forget what memory holds about processes (the other may have appended about them)."""
        committed = tables.head_of(row)
        if committed != self._head:
            self._head = committed
            self.forget()

    def forget(self) -> None:
        """Drop what memory holds about processes (the store rolled back writes it may include)."""
        if self._last is not None:
            self._last.clear()

    def _last_hash_of(self, db: Tx, process_id: str) -> str | None:
        if self._last is None:
            return tables.last_hash_of(db, process_id)
        known = self._last.get(process_id)
        if known is None:
            known = tables.last_hash_of(db, process_id)
        return known

    @property
    def head(self) -> ChainHead:
        """The head as this process last wrote or read it (may include records of an open transaction)."""
        return self._head

    def append(
        self,
        db: Tx,
        kind: str,
        *,
        process_id: str | None = None,
        peer: str | None = None,
        subject: Any = None,
        data: Mapping[str, Any] | None = None,
        subject_json: bytes | None = None,
    ) -> Record:
        """Add one record in the caller's transaction; `subject` is hashed (and its canonical body kept).
        With a `process_id`, `data` gains PROCESS_PREV (whatever the caller put there is replaced).
        `subject_json`, when given, must be `subject_bytes(subject)` made by this node (it spares making it again)."""
        body: bytes | None = None
        subject_sha256 = None
        if subject is not None:
            body = subject_json if subject_json is not None else subject_bytes(subject)
            subject_sha256 = sha256_hex(body)
        fields = dict(data or {})
        if process_id is not None:
            fields[PROCESS_PREV] = self._last_hash_of(db, process_id)
        at = format_utc(self.clock())
        for attempt in (1, 2):
            record = next_record(self._head, at, kind, process_id, peer, subject_sha256, fields)
            try:
                tables.insert_record_checked(db, record)
            except StoreConflict:
                if attempt == 2:
                    raise
                # Memory ran ahead (a transaction that appended was rolled back) or another process appended:
                # the committed head, read under the chain's lock, stays the head until this transaction ends.
                tables.lock_chain(db)
                self.load(db)
                continue
            break
        if body is not None and subject_sha256 is not None:
            tables.insert_subject(db, subject_sha256, body, subject)
        self._head = record.head
        self.appended += 1
        if self._last is not None and process_id is not None:
            if len(self._last) >= MAX_REMEMBERED_PROCESSES:
                self._last.clear()  # a miss costs one look-up; finished processes need not linger
            self._last[process_id] = record.hash
        return record
