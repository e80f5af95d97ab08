"""What a store raises when the database itself fails, whichever backend holds the node's state.

Both backends turn their driver's errors into these before they reach the caller of `Store.run` or `Store.read`
(and inside a transaction, into these at the end of a `Tx.savepoint` block), so that no part of the node above
the store catches `sqlite3` or `psycopg` errors. The driver's error stays attached as `__cause__`, for the log.
They are not ConnectorErrors: their text is the database's, for the operator, not a reason to send to a peer.
"""

from __future__ import annotations


class StoreError(Exception):
    """The database refused or failed a statement (a bug of ours, a schema that is not the node's, ...)."""


class StoreUnavailable(StoreError):
    """The database cannot be used right now: connection lost, database locked or busy, disk full, out of memory,
    a serialization failure or deadlock, a statement cancelled. Nothing of the transaction was kept; retrying
    later may succeed."""


class StoreUnwritable(StoreUnavailable):
    """The database cannot keep anything now: its disk is full, a quota is reached, its storage fails, or it is
    read-only. Unlike a lock or a lost connection, it lasts until someone acts, so the health probe reports it."""


class StoreConflict(StoreError):
    """A constraint or a guard refused the change (a unique key taken, a foreign key missing, an evidence table's
    append-only or chain trigger)."""


__all__ = ["StoreConflict", "StoreError", "StoreUnavailable", "StoreUnwritable"]
