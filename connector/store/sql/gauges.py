"""The statements behind the node's gauges, read when metrics are scraped: processes by kind, role, state and
peer, and the outbox (messages waiting to be delivered, and since when)."""

from __future__ import annotations

from dataclasses import dataclass

from connector.store.interface import Tx


@dataclass(frozen=True)
class ProcessCount:
    kind: str  # negotiation | transfer
    role: str
    state: str
    peer: str
    count: int


@dataclass(frozen=True)
class OutboxDepth:
    messages: int
    oldest: str | None  # created_at of the oldest message waiting (ISO 8601), None when empty


# Read from the covering index (role, state, peer_id) of each table alone (its migration): a scrape walks the
# index in order, never the rows.
PROCESS_COUNTS = (
    "SELECT role, state, peer_id, COUNT(*) AS n FROM {table} "
    "GROUP BY role, state, peer_id ORDER BY role, state, peer_id"
)


def process_counts(tx: Tx) -> list[ProcessCount]:
    out: list[ProcessCount] = []
    for kind, table in (("negotiation", "negotiations"), ("transfer", "transfers")):
        rows = tx.execute(PROCESS_COUNTS.format(table=table))
        out += [ProcessCount(kind, row["role"], row["state"], row["peer_id"], int(row["n"])) for row in rows]
    return out


def outbox_depth(tx: Tx) -> OutboxDepth:
    row = tx.execute("SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox").fetchone()
    return OutboxDepth(int(row["n"]), row["oldest"])
