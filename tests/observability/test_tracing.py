"""Traces: one negotiation between two in-process nodes is one trace spanning both, carried by W3C `traceparent`
on every DSP message; each node keeps a tracer provider of its own; without OTEL_* variables there are no traces."""

from __future__ import annotations

from collections import Counter

import pytest
from nodekit import Management, make_participant, write_config
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from connector.config import load_config
from connector.node.wiring import running
from connector.observability.tracing import OtelTracer, asked_for, from_environment
from connector.telemetry import NO_TRACER


def _tracer(name: str) -> tuple[OtelTracer, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "connector", "service.instance.id": name}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return OtelTracer(provider), exporter


@pytest.fixture
def pair(authority, tmp_path):
    provider = make_participant(authority, tmp_path, "provider")
    consumer = make_participant(authority, tmp_path, "consumer")
    return provider, consumer, write_config(provider, tmp_path), write_config(consumer, tmp_path)


async def test_one_negotiation_is_one_trace_across_both_nodes(pair):
    provider, consumer, pcfg, ccfg = pair
    ptracer, pspans = _tracer("provider")
    ctracer, cspans = _tracer("consumer")
    async with (
        running(load_config(pcfg, environ={}), tracer=ptracer),
        running(load_config(ccfg, environ={}), tracer=ctracer),
    ):
        offer_id = await Management(provider).offer("weather")
        pspans.clear()
        cspans.clear()
        neg = await Management(consumer).negotiate(provider, offer_id, "weather")
        assert neg["state"] == "FINALIZED", neg
    # Stopping the nodes ended every span (and shut their providers down).
    consumer_spans, provider_spans = cspans.get_finished_spans(), pspans.get_finished_spans()
    start = next(s for s in consumer_spans if s.name == "negotiation start")
    trace_id = start.context.trace_id
    ours = [s for s in consumer_spans + provider_spans if s.context.trace_id == trace_id]
    names = Counter(s.name for s in ours)
    by_node = {s.resource.attributes["service.instance.id"] for s in ours}
    assert by_node == {"provider", "consumer"}, names

    # The management request that started it is the root; everything else descends from it.
    roots = [s for s in ours if s.parent is None]
    assert [r.name for r in roots] == ["POST /v1/negotiations"], roots

    # Each DSP message: sent by one node (a client span), received by the other as a child of that span.
    for sender, receiver, message, route in [
        (consumer_spans, provider_spans, "ContractRequestMessage", "POST /dsp/2025-1/negotiations/request"),
        (provider_spans, consumer_spans, "ContractAgreementMessage", "POST /dsp/2025-1/negotiations/{pid}/agreement"),
        (
            consumer_spans,
            provider_spans,
            "ContractAgreementVerificationMessage",
            "POST /dsp/2025-1/negotiations/{pid}/agreement/verification",
        ),
        (
            provider_spans,
            consumer_spans,
            "ContractNegotiationEventMessage",
            "POST /dsp/2025-1/negotiations/{pid}/events",
        ),
    ]:
        send = next(s for s in sender if s.name == f"dsp.send {message}" and s.context.trace_id == trace_id)
        client = next(s for s in sender if s.kind == SpanKind.CLIENT and s.parent.span_id == send.context.span_id)
        server = next(s for s in receiver if s.name == route and s.context.trace_id == trace_id)
        assert server.kind == SpanKind.SERVER and server.parent.is_remote
        assert server.parent.span_id == client.context.span_id, (message, server.parent, client.context)
        handled = next(s for s in receiver if s.name == f"dsp.receive {message}")
        assert handled.context.trace_id == trace_id
        assert handled.attributes["connector.peer"] != ""

    # The steps, the policy decisions on both sides, the verifications of the peer.
    assert names["policy contract"] == 1 and names["policy agreement"] == 1, names
    decision = next(s for s in ours if s.name == "policy contract")
    assert decision.resource.attributes["service.instance.id"] == "provider"
    assert decision.attributes["connector.policy.permitted"] is True
    assert names["verify peer"] >= 4, names
    assert any(n.startswith("step negotiation") for n in names), names


async def test_a_traceparent_from_a_caller_is_continued(pair):
    provider, _, pcfg, _ = pair
    tracer, spans = _tracer("provider")
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    async with running(load_config(pcfg, environ={}), tracer=tracer):
        import aiohttp

        async with aiohttp.ClientSession() as session:
            url = f"http://127.0.0.1:{provider.management_port}/check/health"
            async with session.get(url, headers={"traceparent": parent}) as resp:
                assert resp.status == 200
    server = next(s for s in spans.get_finished_spans() if s.name == "GET /check/health")
    assert f"{server.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert f"{server.parent.span_id:016x}" == "b7ad6b7169203331" and server.parent.is_remote


def test_traces_are_off_unless_the_standard_variables_ask_for_them():
    assert not asked_for({})
    assert not asked_for({"OTEL_SERVICE_NAME": "x"})
    assert not asked_for({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"})
    assert not asked_for({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"})
    assert asked_for({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert asked_for({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"})
    assert asked_for({"OTEL_TRACES_EXPORTER": "console"})
    assert from_environment("did:web:x", {}) is NO_TRACER
    tracer = from_environment("did:web:x", {"OTEL_TRACES_EXPORTER": "otlp"})
    assert isinstance(tracer, OtelTracer)
    assert tracer.provider.resource.attributes["service.instance.id"] == "did:web:x"
    tracer.provider.shutdown()
