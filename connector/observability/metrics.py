"""One node's Prometheus metrics: a registry of its own (never the library's global one, so that several nodes in
one process keep theirs apart) with the series parts report into through the `Meter` port.

The series are counted here, in plain counters and histogram buckets; the Prometheus library and the registry
that renders them (with the process's own series) are loaded when the metrics are first scraped, so that a node
nobody scrapes does not hold them.

Names follow Prometheus conventions: the `connector_` prefix, `_total` on counters, base units (`_seconds`,
`_bytes`). Label values stay bounded: a peer is its participant id for the first `peer_labels` peers the node
meets, and `other` for any after them; a refusal's code is kept only when it looks like one of the node's codes.
"""

from __future__ import annotations

import bisect
import functools
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from connector import __version__
from connector.telemetry import READ, WRITE

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry
    from prometheus_client.registry import Collector

OTHER = "other"

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


class _Counter:
    """A counter's values by label values, in the order the label values were first seen (no `_created` series
    beside it: a counter's reset is seen by its value anyway)."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str] = ()) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = list(labels)
        self.values: dict[tuple[str, ...], float] = {} if labels else {(): 0.0}
        self._lock = threading.Lock()

    def inc(self, labels: tuple[str, ...] = (), amount: float = 1.0) -> None:
        with self._lock:
            self.values[labels] = self.values.get(labels, 0.0) + amount

    def touch(self, labels: tuple[str, ...]) -> None:
        """Present at zero from now on."""
        with self._lock:
            self.values.setdefault(labels, 0.0)

    def family(self) -> Any:
        from prometheus_client.core import CounterMetricFamily

        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        with self._lock:
            values = list(self.values.items())
        for labels, value in values:
            family.add_metric(labels, value)
        return family


class _Histogram:
    """A histogram's bucket counts and sums by label values, in the order the label values were first seen."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str], buckets: Sequence[float]) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = list(labels)
        self.bounds = [*buckets, float("inf")]
        self.series: dict[tuple[str, ...], list[float]] = {}  # a count per bucket (not cumulated), then the sum
        self._lock = threading.Lock()

    def observe(self, labels: tuple[str, ...], amount: float) -> None:
        i = bisect.bisect_left(self.bounds, amount)  # the first bucket whose upper bound is at least the amount
        with self._lock:
            counts = self.series.get(labels)
            if counts is None:
                counts = self.series[labels] = [0.0] * (len(self.bounds) + 1)
            counts[i] += 1
            counts[-1] += amount

    def touch(self, labels: tuple[str, ...]) -> None:
        with self._lock:
            self.series.setdefault(labels, [0.0] * (len(self.bounds) + 1))

    def family(self) -> Any:
        from prometheus_client.core import HistogramMetricFamily
        from prometheus_client.utils import floatToGoString

        family = HistogramMetricFamily(self.name, self.documentation, labels=self.labels)
        with self._lock:
            series = [(labels, list(counts)) for labels, counts in self.series.items()]
        for labels, counts in series:
            cumulated, buckets = 0.0, []
            for bound, count in zip(self.bounds, counts, strict=False):
                cumulated += count
                buckets.append((floatToGoString(bound), cumulated))
            family.add_metric(labels, buckets, counts[-1])
        return family


class NodeMetrics:
    """The `Meter` of one node, and its registry (what `GET /metrics` renders)."""

    def __init__(self, participant_id: str, peer_labels: int = 50) -> None:
        self.participant_id = participant_id
        self.peers = PeerLabels(peer_labels)
        self._collectors: list[Collector] = []  # registered after the node's own series (`also`)
        self._refusals = _Counter(
            "connector_refusals",
            "Requests of peers (or steps on their behalf) refused, by the kind of check that failed (reason) and "
            "the problem's code",
            ["reason", "code"],
        )
        self._verification = _Histogram(
            "connector_verification_seconds",
            "Time to verify a peer's request (certificate, token, presentation, credentials, status), by outcome",
            ["outcome"],
            VERIFICATION_BUCKETS,
        )
        self._decision = _Histogram(
            "connector_policy_decision_seconds",
            "Time of one policy decision, by stage (catalog, contract, agreement, transfer) and outcome",
            ["stage", "outcome"],
            DECISION_BUCKETS,
        )
        self._bytes = _Counter(
            "connector_data_bytes",
            "Bytes of data sent to peers (pulls served, pushes sent) and received from them (pushes received, "
            "pulls verified and reported by this node's command line)",
            ["direction", "peer"],
        )
        self._retries = _Counter(
            "connector_delivery_retries",
            "Outgoing DSP messages sent again because the peer was unreachable or answered 5xx (the log says which)",
        )
        self._store = _Histogram(
            "connector_store_transaction_seconds",
            "Time of a store transaction as its caller waits for it (queueing and commit included), by operation",
            ["operation"],
            STORE_BUCKETS,
        )
        self._store_errors = _Counter(
            "connector_store_errors",
            "Store transactions that failed in the database (conflict, unavailable, error), by operation",
            ["operation", "error"],
        )
        for operation in (WRITE, READ):  # present at zero, so that an alert on their rate has a series to watch
            for error in ("conflict", "unavailable", "error"):
                self._store_errors.touch((operation, error))
        for operation in (WRITE, READ):
            self._store.touch((operation,))
        for stage in ("catalog", "contract", "agreement", "transfer"):
            for permitted in (True, False):
                self._decision.touch((stage, "permitted" if permitted else "denied"))

    @functools.cached_property
    def registry(self) -> CollectorRegistry:
        """The registry that renders the node's series, then the process's (process_cpu_seconds_total,
        process_resident_memory_bytes, ...), then the collectors added with `also`: made, and the Prometheus
        library loaded, when first asked for."""
        from prometheus_client import CollectorRegistry
        from prometheus_client.process_collector import ProcessCollector

        registry = CollectorRegistry()
        registry.register(_Series(self))
        ProcessCollector(registry=registry)
        for collector in self._collectors:
            registry.register(collector)
        return registry

    def also(self, collector: Collector) -> None:
        """Render `collector`'s series too (after the node's own and the process's)."""
        if "registry" in vars(self):
            self.registry.register(collector)
        else:
            self._collectors.append(collector)

    def families(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        info = GaugeMetricFamily(
            "connector_info", "The node's participant id and version (always 1)", labels=["participant_id", "version"]
        )
        info.add_metric([self.participant_id, __version__], 1)
        yield info
        yield self._refusals.family()
        yield self._verification.family()
        yield self._decision.family()
        yield self._bytes.family()
        yield self._retries.family()
        yield self._store.family()
        yield self._store_errors.family()

    # --- the Meter port -------------------------------------------------------------------------------------

    def refused(self, code: str) -> None:
        self._refusals.inc((reason_of(code), bounded_code(code)))

    def verified(self, seconds: float, outcome: str) -> None:
        self._verification.observe((outcome,), seconds)

    def decided(self, stage: str, seconds: float, permitted: bool) -> None:
        self._decision.observe((stage, "permitted" if permitted else "denied"), seconds)

    def moved(self, direction: str, peer: str, count: int) -> None:
        if count > 0:
            self._bytes.inc((direction, self.peers(peer)), count)

    def delivery_retried(self, message_type: str) -> None:
        self._retries.inc()

    def stored(self, operation: str, seconds: float, error: str | None) -> None:
        self._store.observe((operation,), seconds)
        if error is not None:
            self._store_errors.inc((operation, error))


class _Series:
    """The node's own series, as the registry collects them (by identity: one per node)."""

    def __init__(self, metrics: NodeMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Any]:
        return self._metrics.families()
