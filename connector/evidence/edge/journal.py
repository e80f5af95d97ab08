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

Within `batched`, the records appended are made at once, as they would be one by one, and inserted together when
the block ends: one statement for the records, one for their subjects, whatever their number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
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


@dataclass(frozen=True)
class _Pending:
    """A record appended in a batch, with what it was made of (to make it again should the head have moved)."""

    record: Record
    fields: dict[str, Any]
    body: bytes | None
    subject: Any


class Journal:
    """Appends records to the node's chain. Use only on the store thread."""

    def __init__(self, clock: Clock = _utcnow) -> None:
        self.clock = clock
        self._head = ChainHead(0, GENESIS)
        self.appended = 0  # records appended by this process (a cheap activity signal)
        self._last: dict[str, str] | None = None  # process id -> hash of its latest record, when remembered
        self._batch: list[_Pending] | None = None  # the records of an open `batched` block, not yet inserted

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
        if self._batch is not None:
            record = next_record(self._head, at, kind, process_id, peer, subject_sha256, fields)
            self._batch.append(_Pending(record, fields, body, subject))
        else:
            record = self._insert(db, next_record(self._head, at, kind, process_id, peer, subject_sha256, fields))
            if body is not None and subject_sha256 is not None:
                tables.insert_subject(db, subject_sha256, body, subject)
        self._advance(record)
        self.appended += 1
        return record

    def _insert(self, db: Tx, record: Record) -> Record:
        """Insert `record`; should the chain's guard refuse it, made again from the committed head (as it comes)."""
        try:
            tables.insert_record_checked(db, record)
            return record
        except StoreConflict:
            self._reload(db)
        record = self._again(db, record, record.data)
        tables.insert_record_checked(db, record)
        return record

    def _reload(self, db: Tx) -> None:
        # Memory ran ahead (a transaction that appended was rolled back) or another process appended: the
        # committed head, read under the chain's lock, stays the head until this transaction ends.
        tables.lock_chain(db)
        self.load(db)

    def _again(self, db: Tx, record: Record, fields: Mapping[str, Any]) -> Record:
        """`record` made again after the head it followed: the same time, kind, subject and fields."""
        fields = dict(fields)
        if record.process_id is not None:
            fields[PROCESS_PREV] = self._last_hash_of(db, record.process_id)
        return next_record(
            self._head, record.at, record.kind, record.process_id, record.peer, record.subject_sha256, fields
        )

    def _advance(self, record: Record) -> None:
        self._head = record.head
        if self._last is not None and record.process_id is not None:
            if len(self._last) >= MAX_REMEMBERED_PROCESSES:
                self._last.clear()  # a miss costs one look-up; finished processes need not linger
            self._last[record.process_id] = record.hash

    @contextmanager
    def batched(self, db: Tx) -> Iterator[None]:
        """Insert the records appended in the block (in `db`'s transaction) together as it ends, in one statement.
        The records `append` returns in the block are final unless the head moved behind this process's back
        (they are then made again when inserted), and the block must not read the log. Only where the latest record
        of each process is remembered (`remember_processes`); elsewhere, and in a block already open, appends
        are inserted one by one as usual."""
        if self._batch is not None or self._last is None:
            yield
            return
        start, self._batch = self._head, []
        try:
            yield
            batch = self._batch
            self._batch = None
            if batch:
                self._insert_batch(db, batch)
        except BaseException:
            self._batch = None
            self._head = start
            self.forget()
            raise

    def _insert_batch(self, db: Tx, batch: list[_Pending]) -> None:
        records = [p.record for p in batch]
        try:
            tables.insert_records_checked(db, records)
        except StoreConflict:
            self._reload(db)
            records = []
            for pending in batch:
                records.append(self._again(db, pending.record, pending.fields))
                self._advance(records[-1])
            tables.insert_records_checked(db, records)
        subjects = [
            (p.record.subject_sha256, p.body, p.subject)
            for p in batch
            if p.body is not None and p.record.subject_sha256 is not None
        ]
        if subjects:
            tables.insert_subjects(db, subjects)
