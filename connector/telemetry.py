"""What a running node reports about itself: the ports parts report through, and their silent defaults.

Two ports. `Meter` takes the events that become metrics (a refusal and its code, how long a verification, a
policy decision or a store transaction took, bytes moved, a delivery retried); `Tracer` opens trace spans and
carries the W3C trace context to peers. Parts are handed these ports and never see the libraries behind them:
the Prometheus and OpenTelemetry implementations live in `connector.observability`, which only the composition
root imports, so that pure cores and edges alike stay free of either (import contracts in pyproject.toml).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

SpanKind = Literal["internal", "server", "client"]
Attribute = str | int | float | bool
Attributes = Mapping[str, Attribute]

# Directions of `Meter.moved`.
SENT, RECEIVED = "sent", "received"
# Operations of `Meter.stored`.
WRITE, READ = "write", "read"


class Meter(Protocol):
    def refused(self, code: str) -> None:
        """A peer's request, or a step on its behalf, was refused; `code` is the problem's code
        (`certificate.revoked`, `credential.expired`, `policy.refused`, `token.expired`, ...)."""
        ...

    def verified(self, seconds: float, outcome: str) -> None:
        """A peer's request was verified (`outcome`: verified, refused or unavailable) in `seconds`."""
        ...

    def decided(self, stage: str, seconds: float, permitted: bool) -> None:
        """A policy decision at `stage` (catalog, contract, agreement, transfer) took `seconds`."""
        ...

    def moved(self, direction: str, peer: str, count: int) -> None:
        """`count` bytes of data were sent to or received from `peer`."""
        ...

    def delivery_retried(self, message_type: str) -> None:
        """An outgoing DSP message will be sent again (the peer was unreachable or answered 5xx)."""
        ...

    def stored(self, operation: str, seconds: float, error: str | None) -> None:
        """A store transaction (`write` or `read`) ended after `seconds`, failing with `error` (the store error's
        kind: conflict, unavailable, error) or not."""
        ...


class Span(Protocol):
    def set(self, key: str, value: Attribute) -> None: ...

    def failed(self, description: str) -> None: ...


class Tracer(Protocol):
    @property
    def enabled(self) -> bool: ...

    def span(
        self,
        name: str,
        kind: SpanKind = "internal",
        attributes: Attributes | None = None,
        carrier: Mapping[str, str] | None = None,
    ) -> contextlib.AbstractContextManager[Span]:
        """A span around a block, child of the current one; with `carrier` (the headers of a request received), of
        the remote span its `traceparent` names instead, or a new trace when it names none."""
        ...

    def inject(self, headers: MutableMapping[str, str]) -> None:
        """Add the current span's W3C trace context (`traceparent`, `tracestate`) to outgoing headers."""
        ...

    async def close(self) -> None:
        """Send what is still buffered (at the node's stop)."""
        ...


class NoMeter:
    def refused(self, code: str) -> None:
        return None

    def verified(self, seconds: float, outcome: str) -> None:
        return None

    def decided(self, stage: str, seconds: float, permitted: bool) -> None:
        return None

    def moved(self, direction: str, peer: str, count: int) -> None:
        return None

    def delivery_retried(self, message_type: str) -> None:
        return None

    def stored(self, operation: str, seconds: float, error: str | None) -> None:
        return None


class _NoSpan:
    def set(self, key: str, value: Attribute) -> None:
        return None

    def failed(self, description: str) -> None:
        return None


_NO_SPAN = _NoSpan()


class NoTracer:
    enabled = False

    @contextlib.contextmanager
    def span(
        self,
        name: str,
        kind: SpanKind = "internal",
        attributes: Attributes | None = None,
        carrier: Mapping[str, str] | None = None,
    ) -> Iterator[Span]:
        yield _NO_SPAN

    def inject(self, headers: MutableMapping[str, str]) -> None:
        return None

    async def close(self) -> None:
        return None


NO_METER: Meter = NoMeter()
NO_TRACER: Tracer = NoTracer()


@dataclass(frozen=True)
class Telemetry:
    """Both ports, for the parts that report through both."""

    meter: Meter = field(default=NO_METER)
    tracer: Tracer = field(default=NO_TRACER)


NO_TELEMETRY = Telemetry()
