"""Every SQL statement the node runs against its store, as functions `fn(tx, ...)` run inside a transaction the
caller opened with `Store.run` or `Store.read` (connector.store.interface): nothing outside this package writes
SQL for the node's own tables. Statements are portable (see the interface); where SQLite and PostgreSQL differ,
a function asks `tx.dialect`."""
