"""Persistence behind one narrow seam (`Store` runs functions in transactions, each given a `Tx`): the schema's
migrations, every SQL statement of the node (`sql`), and the SQLite backend; PostgreSQL later."""

from connector.store.interface import Store, Tx
from connector.store.sqlite import SqliteStore, SqliteTx, open_store

__all__ = ["Store", "Tx", "SqliteStore", "SqliteTx", "open_store"]
