"""The evidence log's I/O edge in a running node: the journal in the store, checkpoints, export,
time-stamping, and its management routes.

`tables` here is connector.store.sql.evidence, the statements of the evidence tables, under the name the edge
and the tools reading a node's log know them by.
"""

from connector.store.sql import evidence as tables

__all__ = ["tables"]
