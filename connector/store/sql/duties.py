"""The statements of the usage-duty tables: data received under agreements, and fulfilment receipts."""

from __future__ import annotations

from datetime import datetime

from connector.records.columns import iso
from connector.records.duties import DutyReceipt, ReceivedData
from connector.store.interface import Tx
from connector.store.sql.rows import page, upsert

RECEIVED_TABLE = "received_data"
RECEIPT_TABLE = "duty_receipts"


# --- data received --------------------------------------------------------------------------------------------


def save_received(tx: Tx, received: ReceivedData) -> None:
    upsert(tx, RECEIVED_TABLE, received.to_row(), key="transfer_id")


def get_received(tx: Tx, transfer_id: str) -> ReceivedData | None:
    row = tx.execute(f"SELECT * FROM {RECEIVED_TABLE} WHERE transfer_id = ?", [transfer_id]).fetchone()
    return None if row is None else ReceivedData.from_row(row)


def list_received(tx: Tx, limit: int, offset: int, agreement_id: str | None = None) -> tuple[list[ReceivedData], int]:
    where, params = ("agreement_id = ?", [agreement_id]) if agreement_id is not None else ("", [])
    rows, total = page(tx, RECEIVED_TABLE, limit, offset, where, params, order="received_at, transfer_id")
    return [ReceivedData.from_row(r) for r in rows], total


def next_deletion(tx: Tx) -> datetime | None:
    """When the earliest deletion not yet made is due (None: none is owed)."""
    row = tx.execute(
        f"SELECT MIN(delete_due_at) FROM {RECEIVED_TABLE} WHERE deleted_at IS NULL AND delete_due_at IS NOT NULL"
    ).fetchone()
    return None if row is None or row[0] is None else datetime.fromisoformat(row[0])


def deletions_due(tx: Tx, now: datetime, limit: int = 100) -> list[ReceivedData]:
    """Data whose deletion is due by `now` and not yet made, the earliest first."""
    rows = tx.execute(
        f"SELECT * FROM {RECEIVED_TABLE} WHERE deleted_at IS NULL AND delete_due_at IS NOT NULL "
        "AND delete_due_at <= ? ORDER BY delete_due_at, transfer_id LIMIT ?",
        [iso(now), limit],
    ).fetchall()
    return [ReceivedData.from_row(r) for r in rows]


def kept_without_onward_transfer(tx: Tx) -> list[ReceivedData]:
    """Data received under an agreement that prohibits distributing it, and not deleted."""
    rows = tx.execute(
        f"SELECT * FROM {RECEIVED_TABLE} WHERE no_onward_transfer = 1 AND deleted_at IS NULL "
        "ORDER BY received_at, transfer_id"
    ).fetchall()
    return [ReceivedData.from_row(r) for r in rows]


# --- receipts ---------------------------------------------------------------------------------------------------


def add_receipt(tx: Tx, receipt: DutyReceipt) -> bool:
    """Keep a receipt (once: a receipt seen again is not recorded again); True if it is new."""
    row = receipt.to_row()
    columns = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    cursor = tx.execute(
        f"INSERT INTO {RECEIPT_TABLE} ({columns}) VALUES ({marks}) ON CONFLICT (sha256) DO NOTHING", list(row.values())
    )
    return cursor.rowcount == 1


def receipts_of(tx: Tx, agreement_id: str, direction: str | None = None) -> list[DutyReceipt]:
    where, params = "agreement_id = ?", [agreement_id]
    if direction is not None:
        where, params = where + " AND direction = ?", [*params, direction]
    rows = tx.execute(f"SELECT * FROM {RECEIPT_TABLE} WHERE {where} ORDER BY at, sha256", params).fetchall()
    return [DutyReceipt.from_row(r) for r in rows]


def undelivered(tx: Tx, limit: int = 100) -> list[DutyReceipt]:
    """Receipts this node issued that its provider has not acknowledged yet, the oldest first."""
    rows = tx.execute(
        f"SELECT * FROM {RECEIPT_TABLE} WHERE direction = 'issued' AND delivered_at IS NULL "
        "ORDER BY recorded_at, sha256 LIMIT ?",
        [limit],
    ).fetchall()
    return [DutyReceipt.from_row(r) for r in rows]


def mark_delivered(tx: Tx, sha256: str, at: datetime, outcome: str = "delivered") -> None:
    """Sending an issued receipt ended: acknowledged ("delivered") or refused for good (the reason)."""
    tx.execute(
        f"UPDATE {RECEIPT_TABLE} SET delivered_at = ?, delivery = ? WHERE sha256 = ? AND delivered_at IS NULL",
        [iso(at), outcome, sha256],
    )
