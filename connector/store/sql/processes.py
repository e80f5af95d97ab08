"""The statements of the control plane's processes: negotiations, agreements, transfers, each process's history
and outbox, and the answers remembered for messages received."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from connector.records import packing
from connector.records.columns import iso, parse_iso
from connector.records.processes import Agreement, HistoryEntry, Negotiation, OutboxEntry, Transfer
from connector.store.interface import Tx
from connector.store.sql.content import REPEATED, column_text, compact_column, detail_text, stored_row
from connector.store.sql.rows import filters, one, page, upsert

# A peer's verified claims are kept with each of its processes: the bulk of them (its credentials, the same for
# every process until they are verified anew) as a part of `content_blobs`, stored once. So are the rules of the
# offer a negotiation is about and of the agreement it concluded, the same for every negotiation under one offer.


def _claims_stored(tx: Tx, row: dict[str, Any], claims: Any) -> dict[str, Any]:
    row["claims"] = compact_column(tx, claims, row["claims"])
    return row


def _negotiation_stored(tx: Tx, negotiation: Negotiation) -> dict[str, Any]:
    row = _claims_stored(tx, negotiation.to_row(), negotiation.claims)
    row["offer"] = compact_column(tx, negotiation.offer, row["offer"], threshold=REPEATED)
    return row


def _plain(tx: Tx, row: Any, columns: tuple[str, ...]) -> Any:
    """A row with each of these JSON columns as JSON text (whatever way it was stored)."""
    compact = [c for c in columns if row[c] is not None and row[c][:1] not in ("{", "[")]
    if not compact:
        return row
    plain = dict(row)
    for column in compact:
        plain[column] = column_text(tx, row[column])
    return plain


def _negotiation(tx: Tx, row: Any) -> Negotiation:
    return Negotiation.from_row(_plain(tx, row, ("claims", "offer")))


def _transfer(tx: Tx, row: Any) -> Transfer:
    return Transfer.from_row(_plain(tx, row, ("claims",)))


def _agreement(tx: Tx, row: Any) -> Agreement:
    return Agreement.from_row(_plain(tx, row, ("policy",)))


# --- negotiations and agreements --------------------------------------------------------------------------------


def get_negotiation(tx: Tx, negotiation_id: str) -> Negotiation | None:
    row = one(tx, "SELECT * FROM negotiations WHERE id = ?", [negotiation_id])
    return _negotiation(tx, row) if row else None


def find_provider_negotiation(tx: Tx, peer_id: str, consumer_pid: str) -> Negotiation | None:
    row = one(
        tx,
        "SELECT * FROM negotiations WHERE role = 'provider' AND peer_id = ? AND consumer_pid = ?",
        [peer_id, consumer_pid],
    )
    return _negotiation(tx, row) if row else None


def find_consumer_negotiation(tx: Tx, peer_id: str, provider_pid: str) -> Negotiation | None:
    row = one(
        tx,
        "SELECT * FROM negotiations WHERE role = 'consumer' AND peer_id = ? AND provider_pid = ?",
        [peer_id, provider_pid],
    )
    return _negotiation(tx, row) if row else None


def save_negotiation(tx: Tx, negotiation: Negotiation) -> None:
    upsert(tx, "negotiations", _negotiation_stored(tx, negotiation))


def list_negotiations(
    tx: Tx, limit: int, offset: int, state: str | None = None, role: str | None = None
) -> tuple[list[Negotiation], int]:
    where, params = filters(state=state, role=role)
    rows, total = page(tx, "negotiations", limit, offset, where, params, order="created_at DESC, id")
    return [_negotiation(tx, r) for r in rows], total


def open_negotiations(tx: Tx) -> list[Negotiation]:
    return [
        _negotiation(tx, r)
        for r in tx.execute("SELECT * FROM negotiations WHERE state NOT IN ('FINALIZED', 'TERMINATED')").fetchall()
    ]


def save_agreement(tx: Tx, agreement: Agreement) -> None:
    row = agreement.to_row()
    row["policy"] = compact_column(tx, dict(agreement.policy), row["policy"], threshold=REPEATED)
    upsert(tx, "agreements", row)


def get_agreement(tx: Tx, agreement_id: str) -> Agreement | None:
    row = one(tx, "SELECT * FROM agreements WHERE id = ?", [agreement_id])
    return _agreement(tx, row) if row else None


def list_agreements(tx: Tx, limit: int, offset: int) -> tuple[list[Agreement], int]:
    rows, total = page(tx, "agreements", limit, offset, order="created_at DESC, id")
    return [_agreement(tx, r) for r in rows], total


def count_transfers_started(tx: Tx, agreement_id: str, role: str = "provider") -> int:
    """Transfers under an agreement that got as far as STARTED (at any time): the agreement's uses."""
    return tx.execute(
        "SELECT count(DISTINCT t.id) FROM transfers t JOIN process_history h ON h.process_id = t.id "
        "WHERE t.agreement_id = ? AND t.role = ? AND h.to_state = 'STARTED'",
        [agreement_id, role],
    ).fetchone()[0]


# --- transfers --------------------------------------------------------------------------------------------------


def get_transfer(tx: Tx, transfer_id: str) -> Transfer | None:
    row = one(tx, "SELECT * FROM transfers WHERE id = ?", [transfer_id])
    return _transfer(tx, row) if row else None


def find_provider_transfer(tx: Tx, peer_id: str, consumer_pid: str) -> Transfer | None:
    row = one(
        tx,
        "SELECT * FROM transfers WHERE role = 'provider' AND peer_id = ? AND consumer_pid = ?",
        [peer_id, consumer_pid],
    )
    return _transfer(tx, row) if row else None


def save_transfer(tx: Tx, transfer: Transfer) -> None:
    upsert(tx, "transfers", _claims_stored(tx, transfer.to_row(), transfer.claims))


def list_transfers(
    tx: Tx,
    limit: int,
    offset: int,
    state: str | None = None,
    role: str | None = None,
    agreement_id: str | None = None,
) -> tuple[list[Transfer], int]:
    where, params = filters(state=state, role=role, agreement_id=agreement_id)
    rows, total = page(tx, "transfers", limit, offset, where, params, order="created_at DESC, id")
    return [_transfer(tx, r) for r in rows], total


def open_transfers(tx: Tx) -> list[Transfer]:
    return [
        _transfer(tx, r)
        for r in tx.execute("SELECT * FROM transfers WHERE state NOT IN ('COMPLETED', 'TERMINATED')").fetchall()
    ]


def transfers_under(tx: Tx, agreement_id: str) -> list[Transfer]:
    """Every transfer under an agreement, oldest first."""
    return [
        _transfer(tx, r)
        for r in tx.execute(
            "SELECT * FROM transfers WHERE agreement_id = ? ORDER BY created_at", [agreement_id]
        ).fetchall()
    ]


# --- history ----------------------------------------------------------------------------------------------------

# The next seq is taken in the insert itself: one statement per entry instead of a lookup and an insert.
_HISTORY_INSERT = (
    "INSERT INTO process_history(process_id, seq, kind, at, from_state, to_state, cause, reason, detail) "
    "VALUES (?, (SELECT coalesce(max(seq), 0) + 1 FROM process_history WHERE process_id = ?), ?, ?, ?, ?, ?, ?, ?)"
)


def append_history(
    tx: Tx,
    kind: str,
    process_id: str,
    at: datetime,
    from_state: str | None,
    to_state: str,
    cause: str,
    reason: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    tx.execute(
        _HISTORY_INSERT,
        [
            process_id,
            process_id,
            kind,
            iso(at),
            from_state,
            to_state,
            cause,
            reason,
            None if detail is None else compact_column(tx, detail, detail_text(detail), detail_text),
        ],
    )


def history(tx: Tx, process_id: str) -> list[HistoryEntry]:
    entries = []
    for row in tx.execute("SELECT * FROM process_history WHERE process_id = ? ORDER BY seq", [process_id]).fetchall():
        stored = row["detail"]
        if stored is not None and stored[:1] != "{":
            row = {**dict(row), "detail": column_text(tx, stored)}
        entries.append(HistoryEntry.from_row(row))
    return entries


# --- outbox -----------------------------------------------------------------------------------------------------


def enqueue(
    tx: Tx,
    process_kind: str,
    process_id: str,
    peer_id: str,
    url: str,
    message_type: str,
    body: Mapping[str, Any],
    created: datetime,
    deadline: datetime,
    not_before: datetime | None = None,
) -> int:
    cursor = tx.execute(
        "INSERT INTO outbox(process_kind, process_id, peer_id, url, message_type, body, not_before, deadline_at, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [
            process_kind,
            process_id,
            peer_id,
            url,
            message_type,
            json.dumps(body),
            iso(not_before),
            iso(deadline),
            iso(created),
        ],
    )
    return int(cursor.fetchone()[0])


def next_outbox(tx: Tx, process_id: str) -> OutboxEntry | None:
    row = one(tx, "SELECT * FROM outbox WHERE process_id = ? ORDER BY id LIMIT 1", [process_id])
    return OutboxEntry.from_row(row) if row else None


def outbox_processes(tx: Tx) -> list[str]:
    return [r[0] for r in tx.execute("SELECT DISTINCT process_id FROM outbox")]


def outbox_failed_attempt(tx: Tx, entry_id: int, error: str) -> None:
    tx.execute("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE id = ?", [error[:500], entry_id])


def outbox_done(tx: Tx, entry_id: int) -> None:
    tx.execute("DELETE FROM outbox WHERE id = ?", [entry_id])


def outbox_drop_process(tx: Tx, process_id: str) -> int:
    return tx.execute("DELETE FROM outbox WHERE process_id = ?", [process_id]).rowcount


def outbox_pending(tx: Tx, process_id: str) -> list[OutboxEntry]:
    return [
        OutboxEntry.from_row(r)
        for r in tx.execute("SELECT * FROM outbox WHERE process_id = ? ORDER BY id", [process_id])
    ]


# --- idempotency of received messages ---------------------------------------------------------------------------


def remembered_answer(tx: Tx, peer_id: str, message_id: str) -> tuple[int, Any, str | None] | None:
    """The answer given to a message received before: (status, body, the process it was about, if any)."""
    row = one(
        tx,
        "SELECT status, response, packed, process_id FROM received_messages WHERE peer_id = ? AND message_id = ?",
        [peer_id, message_id],
    )
    return (row["status"], json.loads(stored_row(row["response"], row["packed"])), row["process_id"]) if row else None


def remembered_response(tx: Tx, peer_id: str, message_id: str) -> tuple[int, Any] | None:
    found = remembered_answer(tx, peer_id, message_id)
    return None if found is None else (found[0], found[1])


def remember_response(
    tx: Tx, peer_id: str, message_id: str, process_id: str | None, status: int, response: Any, at: datetime
) -> None:
    tx.execute(
        "INSERT INTO received_messages(peer_id, message_id, process_id, status, response, packed, at) "
        "VALUES (?, ?, ?, ?, '', ?, ?) ON CONFLICT (peer_id, message_id) DO UPDATE SET "
        "process_id = excluded.process_id, status = excluded.status, response = excluded.response, "
        "packed = excluded.packed, at = excluded.at",
        [peer_id, message_id, process_id, status, packing.pack(json.dumps(response)), iso(at)],  # kept packed
    )


def forget_responses(tx: Tx, before: datetime) -> int:
    """Drop the remembered answers to messages received before `before` (no peer retries for that long)."""
    return tx.execute("DELETE FROM received_messages WHERE at < ?", [iso(before)]).rowcount


def finalize_agreement(tx: Tx, agreement_id: str) -> None:
    """The agreement is final (unchanged if it is already, or unknown)."""
    tx.execute("UPDATE agreements SET finalized = 1 WHERE id = ? AND finalized = 0", [agreement_id])


def count_queued(tx: Tx, process_id: str) -> int:
    """How many messages of the process are still undelivered."""
    return int(tx.execute("SELECT count(*) FROM outbox WHERE process_id = ?", [process_id]).fetchone()[0])


def negotiation_purpose(tx: Tx, negotiation_id: str) -> str | None:
    """The purpose declared in a negotiation (None if it declared none, or is unknown)."""
    row = tx.execute("SELECT purpose FROM negotiations WHERE id = ?", [negotiation_id]).fetchone()
    return None if row is None else row[0]


# --- processes waiting for their peers --------------------------------------------------------------------------


def due_checks(tx: Tx, now: datetime, limit: int) -> list[tuple[str, str]]:
    """(kind, id) of the processes whose check time has come, soonest first."""
    rows = tx.execute(
        "SELECT kind, id FROM ("
        "SELECT 'negotiation' AS kind, id, check_at FROM negotiations WHERE check_at IS NOT NULL AND check_at <= ? "
        "UNION ALL "
        "SELECT 'transfer' AS kind, id, check_at FROM transfers WHERE check_at IS NOT NULL AND check_at <= ?"
        ") due ORDER BY check_at LIMIT ?",
        [iso(now), iso(now), limit],
    )
    return [(r[0], r[1]) for r in rows]


def next_check(tx: Tx) -> datetime | None:
    """The soonest check time of any process (None: no process waits)."""
    found = [
        tx.execute(f"SELECT min(check_at) FROM {table} WHERE check_at IS NOT NULL").fetchone()[0]
        for table in ("negotiations", "transfers")
    ]
    times = [parse_iso(t) for t in found if t is not None]
    return min(times) if times else None
