"""What the node keeps, as values: every persistent record, and how its fields are written to and read from
columns (`to_row` / `from_row`). Pure: no SQL and no I/O here; the statements that store and load these records
are in connector.store.sql."""
