"""Store queries the control plane's shell needs beyond those of the repository (same conventions: the open
transaction first, called on the store's thread)."""

from __future__ import annotations

from typing import Any

Tx = Any  # the store's transaction handle


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
