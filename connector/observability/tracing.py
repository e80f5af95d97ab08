"""Traces with OpenTelemetry: the optional `otel` extra (`pip install 'connector[otel]'`), off unless the
standard `OTEL_*` variables ask for traces.

Asking means `OTEL_TRACES_EXPORTER` naming an exporter (`otlp`, `console`; `none` keeps traces off), or an OTLP
endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); `OTEL_SDK_DISABLED=true` turns
everything off. The rest is the SDK's own reading of the standard variables (`OTEL_SERVICE_NAME`,
`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`, `OTEL_EXPORTER_OTLP_*`, `OTEL_BSP_*`). Each node has a tracer
provider of its own (its participant id is the resource's `service.instance.id`), never the global one, so that
nodes sharing a process keep their spans apart. The W3C trace context (`traceparent`, `tracestate`) goes to peers
with every DSP message and is taken from every request received.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
from collections.abc import Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from connector import __version__
from connector.telemetry import NO_TRACER, Attribute, Attributes, Span, SpanKind, Tracer

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

log = logging.getLogger("connector.node")


def asked_for(environ: Mapping[str, str]) -> bool:
    """Whether the standard variables ask for traces."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporters:
        return exporters != "none"
    return bool(environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def from_environment(participant_id: str, environ: Mapping[str, str] | None = None) -> Tracer:
    """The node's tracer as the environment configures it: `NO_TRACER` unless traces are asked for (and then, if
    the extra is not installed, with a warning that says how to install it)."""
    environ = os.environ if environ is None else environ
    if not asked_for(environ):
        return NO_TRACER
    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning(
            "the OTEL_* variables ask for traces but OpenTelemetry is not installed "
            "(pip install 'connector[otel]'): the node runs without traces"
        )
        return NO_TRACER
    attributes: dict[str, str] = {"service.instance.id": participant_id, "service.version": __version__}
    if not environ.get("OTEL_SERVICE_NAME") and "service.name=" not in environ.get("OTEL_RESOURCE_ATTRIBUTES", ""):
        attributes["service.name"] = "connector"
    provider = TracerProvider(resource=Resource.create(attributes))
    names = [n.strip() for n in environ.get("OTEL_TRACES_EXPORTER", "otlp").lower().split(",") if n.strip()]
    exporting = 0
    for name in names:
        exporter = _exporter(name, environ)
        if exporter is not None:
            provider.add_span_processor(BatchSpanProcessor(exporter))
            exporting += 1
    if not exporting:
        return NO_TRACER
    log.info("traces are exported", extra={"exporters": ",".join(names)})
    return OtelTracer(provider)


def _exporter(name: str, environ: Mapping[str, str]) -> Any:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name != "otlp":
        log.warning("OTEL_TRACES_EXPORTER names an exporter this node does not know: %s (known: otlp, console)", name)
        return None
    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    transport = "grpc" if protocol == "grpc" else "http"  # the extra installs http/protobuf
    try:
        module = importlib.import_module(f"opentelemetry.exporter.otlp.proto.{transport}.trace_exporter")
    except ImportError:
        package = f"opentelemetry-exporter-otlp-proto-{transport}"
        log.warning("no OTLP exporter for %s is installed (pip install %s): no traces are exported", protocol, package)
        return None
    return module.OTLPSpanExporter()


class _OtelSpan:
    def __init__(self, span: Any) -> None:
        self._span = span

    def set(self, key: str, value: Attribute) -> None:
        self._span.set_attribute(key, value)

    def failed(self, description: str) -> None:
        from opentelemetry.trace import Status, StatusCode

        self._span.set_status(Status(StatusCode.ERROR, description))


class OtelTracer:
    """The `Tracer` port over one OpenTelemetry tracer provider."""

    enabled = True

    def __init__(self, provider: TracerProvider) -> None:
        from opentelemetry.trace import SpanKind as Kind
        from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

        self.provider = provider
        self._tracer = provider.get_tracer("connector", __version__)
        self._propagator = TraceContextTextMapPropagator()
        self._kinds = {"internal": Kind.INTERNAL, "server": Kind.SERVER, "client": Kind.CLIENT}

    @contextlib.contextmanager
    def span(
        self,
        name: str,
        kind: SpanKind = "internal",
        attributes: Attributes | None = None,
        carrier: Mapping[str, str] | None = None,
    ) -> Iterator[Span]:
        # A request received continues the trace its `traceparent` names, or starts one: never the trace of
        # whatever happened to be current where the listener was started.
        context = self._propagator.extract(carrier) if carrier is not None else None
        with self._tracer.start_as_current_span(
            name, context=context, kind=self._kinds[kind], attributes=dict(attributes or {})
        ) as span:
            yield _OtelSpan(span)

    def inject(self, headers: MutableMapping[str, str]) -> None:
        self._propagator.inject(headers)

    async def close(self) -> None:
        # Shutting down flushes what the batch processors hold, which may mean a network round trip.
        await asyncio.to_thread(self.provider.shutdown)
