"""The node's metrics (Prometheus) and traces (OpenTelemetry), behind the ports of `connector.telemetry`.

`metrics.py` holds one node's registry and its series; `gauges.py` what is read when it is scraped (processes,
outbox, the expiry of trust material); `observed.py` the ports of other parts wrapped so that they report (the
store, the verifier seam, the decision seam); `tracing.py` OpenTelemetry, loaded only when the standard `OTEL_*`
variables ask for traces; `routes.py` `GET /metrics` on the management listener. Only the composition root imports
this package, and no other package imports prometheus_client or opentelemetry.
"""
