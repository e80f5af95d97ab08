"""The evidence log's I/O edge in a running node: the journal in the store, checkpoints, export,
time-stamping, and its management routes."""
