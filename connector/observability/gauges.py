"""What is read when the node's metrics are scraped rather than counted as it happens: negotiations and transfers
by role, state and peer, the outbox, and the expiry of every piece of trust material.

Process counts come from the store (one grouped read per scrape), so they hold across restarts and agree with
`connector negotiations` and `connector transfers`; the trust material from what the node holds in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from connector.observability.metrics import OTHER, PeerLabels
from connector.store.interface import Store, Tx
from connector.store.sql.gauges import OutboxDepth, ProcessCount, outbox_depth, process_counts
from connector.trust.edge.service import Expiry

if TYPE_CHECKING:
    from prometheus_client.core import Metric


@dataclass(frozen=True)
class Snapshot:
    processes: Sequence[ProcessCount] = ()
    outbox: OutboxDepth = OutboxDepth(0, None)
    material: Sequence[Expiry] = ()
    taken_at: datetime | None = None


@dataclass(eq=False)  # the registry keys its collectors by identity
class Gauges:
    """A collector of the last snapshot: `refresh` (on the event loop) reads a new one, `collect` (called by the
    registry as it renders) turns it into metric families."""

    store: Store
    material: Callable[[], Sequence[Expiry]]
    peers: PeerLabels
    clock: Callable[[], datetime]
    last: Snapshot = field(default_factory=Snapshot)

    async def refresh(self) -> None:
        def read(tx: Tx) -> tuple[list[ProcessCount], OutboxDepth]:
            return process_counts(tx), outbox_depth(tx)

        processes, outbox = await self.store.read(read)
        # The busiest peers are named first, so that the `other` bucket holds the long tail.
        totals: dict[str, int] = {}
        for p in processes:
            totals[p.peer] = totals.get(p.peer, 0) + p.count
        self.peers.admit(sorted(totals, key=lambda peer: (-totals[peer], peer)))
        self.last = Snapshot(processes, outbox, tuple(self.material()), self.clock())

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily  # loaded with the first scrape

        snap = self.last
        labels = ["role", "state", "peer"]
        families = {
            "negotiation": GaugeMetricFamily(
                "connector_negotiations", "Contract negotiations by role, current state and peer", labels=labels
            ),
            "transfer": GaugeMetricFamily(
                "connector_transfers", "Transfer processes by role, current state and peer", labels=labels
            ),
        }
        summed: dict[tuple[str, str, str, str], int] = {}
        for p in snap.processes:
            key = (p.kind, p.role, p.state, self.peers(p.peer) if p.peer else OTHER)
            summed[key] = summed.get(key, 0) + p.count
        for (kind, role, state, peer), count in sorted(summed.items()):
            families[kind].add_metric([role, state, peer], count)
        yield from families.values()

        waiting = snap.outbox.messages
        yield GaugeMetricFamily("connector_outbox_messages", "DSP messages waiting to be delivered", value=waiting)
        age = 0.0
        if snap.outbox.oldest is not None and snap.taken_at is not None:
            age = max(0.0, (snap.taken_at - datetime.fromisoformat(snap.outbox.oldest)).total_seconds())
        yield GaugeMetricFamily(
            "connector_outbox_oldest_message_age_seconds",
            "How long the oldest message waiting in the outbox has waited (0 when none waits)",
            value=age,
        )

        expiry = GaugeMetricFamily(
            "connector_trust_material_expiry_timestamp_seconds",
            "When each piece of trust material stops being valid (Unix time): the node's own certificates (tls, "
            "signing) and credentials, the CAs and CRLs (next update) it trusts, its trust lists and the status "
            "lists it holds",
            labels=["kind", "name"],
        )
        for item in snap.material:
            expiry.add_metric([item.kind, item.name], item.at.timestamp())
        yield expiry
