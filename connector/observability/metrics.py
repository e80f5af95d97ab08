"""One node's Prometheus metrics: a registry of its own (never the library's global one, so that several nodes in
one process keep theirs apart) with the series parts report into through the `Meter` port.

Names follow Prometheus conventions: the `connector_` prefix, `_total` on counters, base units (`_seconds`,
`_bytes`). Label values stay bounded: a peer is its participant id for the first `peer_labels` peers the node
meets, and `other` for any after them; a refusal's code is kept only when it looks like one of the node's codes.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.process_collector import ProcessCollector

from connector import __version__
from connector.telemetry import READ, WRITE

OTHER = "other"

# No `_created` series beside each counter and histogram: a counter's reset is seen by its value anyway.
disable_created_metrics()

# The kind of check a refusal's code names (its first part), as the `reason` label says it.
REASONS = {
    "certificate": "certificate",
    "auth": "certificate",  # no verified client certificate on the connection
    "credential": "credential",
    "presentation": "credential",
    "status": "credential",  # a status list (revocation, suspension)
    "dcp": "credential",
    "did": "did",
    "token": "token",
    "policy": "policy",
    "standing": "standing",
    "dataplane": "dataplane",
    "trust": "trust",
}
_CODE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+){1,3}$")

# Buckets in seconds: a verification takes from microseconds (a cached presentation) to seconds (fetches), a
# policy decision tens of microseconds, a store transaction from a hundred microseconds up.
VERIFICATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
DECISION_BUCKETS = (0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05)
STORE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)


def reason_of(code: str) -> str:
    return REASONS.get(code.split(".", 1)[0], OTHER)


def bounded_code(code: str) -> str:
    return code if len(code) <= 64 and _CODE.match(code) else OTHER


class PeerLabels:
    """The label value of each peer: its participant id for the first `cap` peers seen, `other` for the rest (a
    label value per peer would make a series per peer, without bound)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self._named: set[str] = set()
        self._lock = threading.Lock()  # peers are seen on the event loop and on the store's thread

    def __call__(self, peer: str) -> str:
        if peer in self._named:
            return peer
        with self._lock:
            if peer in self._named:
                return peer
            if len(self._named) < self.cap:
                self._named.add(peer)
                return peer
        return OTHER

    def admit(self, peers: Iterable[str]) -> None:
        """Name these peers first (in this order) while there is room."""
        for peer in peers:
            self(peer)


class NodeMetrics:
    """The `Meter` of one node, and its registry (what `GET /metrics` renders)."""

    def __init__(self, participant_id: str, peer_labels: int = 50) -> None:
        self.registry = CollectorRegistry()
        self.peers = PeerLabels(peer_labels)
        r = self.registry
        info = Gauge(
            "connector_info",
            "The node's participant id and version (always 1)",
            ["participant_id", "version"],
            registry=r,
        )
        info.labels(participant_id, __version__).set(1)
        self._refusals = Counter(
            "connector_refusals",
            "Requests of peers (or steps on their behalf) refused, by the kind of check that failed (reason) and "
            "the problem's code",
            ["reason", "code"],
            registry=r,
        )
        self._verification = Histogram(
            "connector_verification_seconds",
            "Time to verify a peer's request (certificate, token, presentation, credentials, status), by outcome",
            ["outcome"],
            buckets=VERIFICATION_BUCKETS,
            registry=r,
        )
        self._decision = Histogram(
            "connector_policy_decision_seconds",
            "Time of one policy decision, by stage (catalog, contract, agreement, transfer) and outcome",
            ["stage", "outcome"],
            buckets=DECISION_BUCKETS,
            registry=r,
        )
        self._bytes = Counter(
            "connector_data_bytes",
            "Bytes of data sent to peers (pulls served, pushes sent) and received from them (pushes received, "
            "pulls verified and reported by this node's command line)",
            ["direction", "peer"],
            registry=r,
        )
        self._retries = Counter(
            "connector_delivery_retries",
            "Outgoing DSP messages sent again because the peer was unreachable or answered 5xx (the log says which)",
            registry=r,
        )
        self._store = Histogram(
            "connector_store_transaction_seconds",
            "Time of a store transaction as its caller waits for it (queueing and commit included), by operation",
            ["operation"],
            buckets=STORE_BUCKETS,
            registry=r,
        )
        self._store_errors = Counter(
            "connector_store_errors",
            "Store transactions that failed in the database (conflict, unavailable, error), by operation",
            ["operation", "error"],
            registry=r,
        )
        for operation in (WRITE, READ):  # present at zero, so that an alert on their rate has a series to watch
            for error in ("conflict", "unavailable", "error"):
                self._store_errors.labels(operation, error)
        # The children of the series observed on every store call, looked up once (a lookup takes a lock).
        self._store_by_operation = {operation: self._store.labels(operation) for operation in (WRITE, READ)}
        self._decision_by = {
            (stage, permitted): self._decision.labels(stage, "permitted" if permitted else "denied")
            for stage in ("catalog", "contract", "agreement", "transfer")
            for permitted in (True, False)
        }
        ProcessCollector(registry=r)  # process_cpu_seconds_total, process_resident_memory_bytes, ...

    # --- the Meter port -------------------------------------------------------------------------------------

    def refused(self, code: str) -> None:
        self._refusals.labels(reason_of(code), bounded_code(code)).inc()

    def verified(self, seconds: float, outcome: str) -> None:
        self._verification.labels(outcome).observe(seconds)

    def decided(self, stage: str, seconds: float, permitted: bool) -> None:
        child = self._decision_by.get((stage, permitted))
        (child or self._decision.labels(stage, "permitted" if permitted else "denied")).observe(seconds)

    def moved(self, direction: str, peer: str, count: int) -> None:
        if count > 0:
            self._bytes.labels(direction, self.peers(peer)).inc(count)

    def delivery_retried(self, message_type: str) -> None:
        self._retries.inc()

    def stored(self, operation: str, seconds: float, error: str | None) -> None:
        child = self._store_by_operation.get(operation)
        (child or self._store.labels(operation)).observe(seconds)
        if error is not None:
            self._store_errors.labels(operation, error).inc()
