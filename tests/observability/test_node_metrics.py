"""One node's metrics, as values: bounded labels (peers beyond the cap are `other`, codes that are not the node's
are `other`), a registry per node, and the gauges read from a real store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import prometheus_client
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from connector.observability.gauges import Gauges
from connector.observability.metrics import NodeMetrics, PeerLabels, bounded_code, reason_of
from connector.store.sqlite import SqliteStore
from connector.trust.edge.service import Expiry


def _samples(metrics: NodeMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_peers_beyond_the_cap_are_counted_as_other():
    labels = PeerLabels(2)
    assert [labels(p) for p in ("did:web:a", "did:web:b", "did:web:c", "did:web:a")] == [
        "did:web:a",
        "did:web:b",
        "other",
        "did:web:a",
    ]
    metrics = NodeMetrics("did:web:me", peer_labels=1)
    metrics.moved("sent", "did:web:a", 10)
    metrics.moved("sent", "did:web:b", 5)
    metrics.moved("sent", "did:web:c", 7)
    found = _samples(metrics)
    assert found["connector_data_bytes_total", (("direction", "sent"), ("peer", "did:web:a"))] == 10
    assert found["connector_data_bytes_total", (("direction", "sent"), ("peer", "other"))] == 12


def test_a_refusal_is_labelled_with_the_kind_of_check_and_a_bounded_code():
    assert reason_of("certificate.revoked") == "certificate"
    assert reason_of("status.list_expired") == "credential"
    assert reason_of("token.expired") == "token"
    assert reason_of("policy.refused") == "policy"
    assert reason_of("teapot.short") == "other"
    assert bounded_code("credential.issuer_untrusted") == "credential.issuer_untrusted"
    assert bounded_code("<script>alert(1)</script>") == "other"
    assert bounded_code("a." + "x" * 80) == "other"
    metrics = NodeMetrics("did:web:me")
    metrics.refused("credential.revoked")
    metrics.refused("credential.revoked")
    metrics.refused("Not A Code")
    found = _samples(metrics)
    assert found["connector_refusals_total", (("code", "credential.revoked"), ("reason", "credential"))] == 2
    assert found["connector_refusals_total", (("code", "other"), ("reason", "other"))] == 1


def test_each_node_has_a_registry_of_its_own_and_the_global_one_stays_empty_of_it():
    a, b = NodeMetrics("did:web:a"), NodeMetrics("did:web:b")
    a.refused("token.expired")
    assert ("connector_refusals_total", (("code", "token.expired"), ("reason", "token"))) in _samples(a)
    assert not any(name == "connector_refusals_total" for name, _ in _samples(b))
    global_names = {m.name for m in prometheus_client.REGISTRY.collect()}
    assert not any(name.startswith("connector_") for name in global_names), global_names


def test_histograms_have_the_buckets_of_what_they_measure():
    metrics = NodeMetrics("did:web:me")
    metrics.decided("contract", 0.00003, True)
    metrics.verified(0.004, "verified")
    metrics.stored("write", 0.0007, None)
    metrics.stored("read", 0.2, "unavailable")
    found = _samples(metrics)
    assert (
        found[
            "connector_policy_decision_seconds_bucket",
            (("le", "2.5e-05"), ("outcome", "permitted"), ("stage", "contract")),
        ]
        == 0
    )
    assert (
        found[
            "connector_policy_decision_seconds_bucket",
            (("le", "5e-05"), ("outcome", "permitted"), ("stage", "contract")),
        ]
        == 1
    )
    assert found["connector_verification_seconds_bucket", (("le", "0.005"), ("outcome", "verified"))] == 1
    assert found["connector_store_errors_total", (("error", "unavailable"), ("operation", "read"))] == 1
    assert found["connector_store_errors_total", (("error", "conflict"), ("operation", "write"))] == 0


async def test_process_gauges_name_the_busiest_peers_and_sum_the_rest_as_other(tmp_path):
    store = SqliteStore(tmp_path / "s.sqlite")
    await store.open()
    now = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)

    def fill(tx):
        rows = [("did:web:busy", "FINALIZED")] * 3 + [("did:web:quiet", "REQUESTED"), ("did:web:rare", "TERMINATED")]
        for i, (peer, state) in enumerate(rows):
            tx.execute(
                "INSERT INTO negotiations(id, role, state, peer_id, peer_address, created_at, updated_at) "
                "VALUES (?, 'provider', ?, ?, 'https://x', ?, ?)",
                [f"n{i}", state, peer, now.isoformat(), now.isoformat()],
            )
        tx.execute(
            "INSERT INTO outbox(process_kind, process_id, peer_id, url, message_type, body, deadline_at, created_at) "
            "VALUES ('negotiation', 'n3', 'did:web:quiet', 'https://x', 'ContractRequestMessage', '{}', ?, ?)",
            [(now + timedelta(minutes=5)).isoformat(), (now - timedelta(seconds=42)).isoformat()],
        )

    try:
        await store.run(fill)
        metrics = NodeMetrics("did:web:me", peer_labels=1)
        material = [Expiry("crl", "CN=Test CA", now + timedelta(days=7))]
        gauges = Gauges(store, lambda: material, metrics.peers, lambda: now)
        metrics.registry.register(gauges)
        await gauges.refresh()
        found = _samples(metrics)
    finally:
        await store.close()
    negotiations = {k[1]: v for k, v in found.items() if k[0] == "connector_negotiations"}
    assert negotiations == {
        (("peer", "did:web:busy"), ("role", "provider"), ("state", "FINALIZED")): 3,
        (("peer", "other"), ("role", "provider"), ("state", "REQUESTED")): 1,
        (("peer", "other"), ("role", "provider"), ("state", "TERMINATED")): 1,
    }
    assert found["connector_outbox_messages", ()] == 1
    assert found["connector_outbox_oldest_message_age_seconds", ()] == 42
    key = ("connector_trust_material_expiry_timestamp_seconds", (("kind", "crl"), ("name", "CN=Test CA")))
    assert found[key] == (now + timedelta(days=7)).timestamp()


def test_the_process_gauges_are_read_from_an_index_alone(tmp_path):
    """A scrape groups every negotiation and transfer: from a covering index, never a scan of the tables' rows."""
    from connector.store.sql.gauges import PROCESS_COUNTS
    from connector.store.sqlite import connect, migrate

    conn = connect(tmp_path / "s.sqlite")
    try:
        migrate(conn)
        for table in ("negotiations", "transfers"):
            query = "EXPLAIN QUERY PLAN " + PROCESS_COUNTS.format(table=table)
            plan = " ".join(row[3] for row in conn.execute(query))
            assert f"USING COVERING INDEX {table}_by_state" in plan and "TEMP B-TREE" not in plan, plan
    finally:
        conn.close()


def test_the_series_render_as_the_library_s_own_counters_and_histograms_would():
    from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics

    from connector.observability.metrics import STORE_BUCKETS

    disable_created_metrics()
    metrics = NodeMetrics("did:web:me")
    library = CollectorRegistry()
    store = Histogram(
        "connector_store_transaction_seconds",
        "Time of a store transaction as its caller waits for it (queueing and commit included), by operation",
        ["operation"],
        buckets=STORE_BUCKETS,
        registry=library,
    )
    retries = Counter(
        "connector_delivery_retries",
        "Outgoing DSP messages sent again because the peer was unreachable or answered 5xx (the log says which)",
        registry=library,
    )
    for operation in ("write", "read"):
        store.labels(operation)
    # Amounts on the bounds, between them, below the first and beyond the last.
    for operation, seconds in [("write", 0.0001), ("read", 0.0003), ("write", 5.0), ("write", 7.5), ("x", 0.00001)]:
        metrics.stored(operation, seconds, None)
        store.labels(operation).observe(seconds)
    for _ in range(3):
        metrics.delivery_retried("ContractRequestMessage")
        retries.inc()

    def blocks(text: str, names: tuple[str, ...]) -> list[str]:
        def name_of(line: str) -> str:
            return line.split(" ")[2] if line.startswith("#") else line.split("{")[0].split(" ")[0]

        return [line for line in text.splitlines() if name_of(line).startswith(names)]

    ours = blocks(generate_latest(metrics.registry).decode(), ("connector_store_transaction", "connector_delivery"))
    theirs = generate_latest(library).decode().splitlines()
    assert sorted(ours) == sorted(theirs) and len(ours) > 40
    # The same order within each series, too.
    assert [line for line in ours if "store" in line] == [line for line in theirs if "store" in line]
