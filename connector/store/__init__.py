"""Persistence behind one narrow interface (`Store`); SQLite now, PostgreSQL later."""

from connector.store.interface import Store
from connector.store.sqlite import SqliteStore, open_store

__all__ = ["Store", "SqliteStore", "open_store"]
