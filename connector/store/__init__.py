"""Persistence behind one narrow seam (`Store` runs functions in transactions, each given a `Tx`): the schema's
migrations, every SQL statement of the node (`sql`), the store's own errors, and two backends: SQLite (the
default, `sqlite`) and PostgreSQL (`postgres`, imported only where `store.url` asks for it)."""

from connector.store.errors import StoreConflict, StoreError, StoreUnavailable
from connector.store.interface import Store, Tx
from connector.store.sqlite import SqliteStore, SqliteTx, open_store

__all__ = ["Store", "Tx", "SqliteStore", "SqliteTx", "open_store", "StoreError", "StoreConflict", "StoreUnavailable"]
