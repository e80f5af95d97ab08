"""Ports of other parts, wrapped by the composition root so that they report what they do: the store (how long
each transaction took, which failed), the verifier seam (how long a verification took, which were refused and
why) and the decision seam (how long each policy decision took, and the refusals). The parts themselves know
nothing of it.

The store wrapper also runs each transaction in a copy of its caller's context: a span (and a request id) opened
on the event loop stays current on the store's thread, so that the policy decisions a step makes there are
children of that step's span.
"""

from __future__ import annotations

import contextvars
import functools
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from aiohttp import web

from connector.errors import ConnectorError
from connector.policy.seam import Decisions, OfferedPolicy, UsageContext, Verdict
from connector.protocol.auth import Authenticator
from connector.store.errors import StoreConflict, StoreError, StoreUnavailable, StoreUnwritable
from connector.store.interface import Coordination, Store
from connector.telemetry import READ, WRITE, Meter, Telemetry
from connector.trust.claims import VerifiedClaims

T = TypeVar("T")


def _store_error(exc: BaseException) -> str | None:
    if isinstance(exc, StoreConflict):
        return "conflict"
    if isinstance(exc, StoreUnavailable):
        return "unavailable"
    if isinstance(exc, StoreError):
        return "error"
    return None


def _in_context(context: contextvars.Context, fn: Callable[..., T], tx: Any, *args: Any) -> T:
    return context.run(fn, tx, *args)


class ObservedStore:
    """A `Store` that times each transaction and counts the failed ones; everything else is the inner store's. It
    keeps the last refusal to write that lasts until someone acts (`StoreUnwritable`: a full disk, say), for the
    health probe: a small write (its heartbeat, or one of the node's) may still commit while the node's writes that
    need room are refused, so a success does not clear it; the probe reports it for a while (node.health)."""

    def __init__(self, inner: Store, meter: Meter) -> None:
        self.inner = inner
        self.meter = meter
        self.unwritable: tuple[float, str] | None = None  # (time.monotonic() then, the database's reason)

    async def _timed(self, operation: str, call: Callable[..., Any], fn: Callable[..., T], *args: Any) -> T:
        started = time.perf_counter()
        error: str | None = None
        try:
            result: T = await call(functools.partial(_in_context, contextvars.copy_context(), fn), *args)
            return result
        except BaseException as exc:
            error = _store_error(exc)
            if isinstance(exc, StoreUnwritable):
                self.unwritable = (time.monotonic(), str(exc))
            raise
        finally:
            self.meter.stored(operation, time.perf_counter() - started, error)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._timed(WRITE, self.inner.run, fn, *args)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._timed(READ, self.inner.read, fn, *args)

    async def open(self) -> None:
        await self.inner.open()

    async def close(self) -> None:
        await self.inner.close()

    async def healthy(self) -> bool:
        return await self.inner.healthy()

    async def schema_version(self) -> int:
        return await self.inner.schema_version()

    def on_undo(self, hook: Callable[[], None]) -> None:
        self.inner.on_undo(hook)

    @property
    def coordination(self) -> Coordination:
        return self.inner.coordination

    def at_write_begin(self, query: str, hook: Callable[[Any], None]) -> None:
        self.inner.at_write_begin(query, hook)


class ObservedAuthenticator:
    """The verifier seam, timed and with its refusals counted by code, in a span of its own."""

    def __init__(self, inner: Authenticator, telemetry: Telemetry) -> None:
        self.inner = inner
        self.meter = telemetry.meter
        self.tracer = telemetry.tracer

    async def authenticate(self, request: web.Request) -> VerifiedClaims:
        started = time.perf_counter()
        outcome = "verified"
        with self.tracer.span("verify peer") as span:
            try:
                claims = await self.inner.authenticate(request)
            except ConnectorError as exc:
                outcome = "unavailable" if exc.code.endswith((".unavailable", ".busy")) else "refused"
                self.meter.refused(exc.code)
                span.failed(exc.code)
                raise
            finally:
                self.meter.verified(time.perf_counter() - started, outcome)
            span.set("connector.peer", claims.participant_id)
            return claims


class ObservedDecisions:
    """The decision seam, each decision timed and (but for catalogue filtering, which decides once per offer of a
    catalogue) in a span; a contract or transfer denied counts as a refusal (`policy.refused`)."""

    def __init__(self, inner: Decisions, telemetry: Telemetry) -> None:
        self.inner = inner
        self.meter = telemetry.meter
        self.tracer = telemetry.tracer

    def _decide(self, stage: str, refusal: bool, decide: Callable[[], Verdict]) -> Verdict:
        with self.tracer.span(f"policy {stage}", attributes={"connector.policy.stage": stage}) as span:
            started = time.perf_counter()
            verdict = decide()
            self.meter.decided(stage, time.perf_counter() - started, verdict.permitted)
            span.set("connector.policy.permitted", verdict.permitted)
            if not verdict.permitted:
                span.set("connector.policy.reason", verdict.reason[:500])
                if refusal:
                    self.meter.refused("policy.refused")
            return verdict

    def catalogue_visible(
        self, access_policy: Mapping[str, Any] | None, claims: VerifiedClaims, now: datetime
    ) -> Verdict:
        started = time.perf_counter()
        verdict = self.inner.catalogue_visible(access_policy, claims, now)
        self.meter.decided("catalog", time.perf_counter() - started, verdict.permitted)
        return verdict

    def catalogue_class(self, claims: VerifiedClaims, now: datetime) -> Hashable | None:
        return self.inner.catalogue_class(claims, now)

    def decided_by_class(self, access_policy: Mapping[str, Any] | None) -> bool:
        return self.inner.decided_by_class(access_policy)

    def contract(
        self,
        offers: Sequence[OfferedPolicy],
        requested: Mapping[str, Any],
        dataset_id: str | None,
        claims: VerifiedClaims,
        now: datetime,
        purpose: str | None,
    ) -> Verdict:
        return self._decide(
            "contract", True, lambda: self.inner.contract(offers, requested, dataset_id, claims, now, purpose)
        )

    def agreement_acceptable(
        self, requested: Mapping[str, Any], agreement: Mapping[str, Any], provider_id: str, consumer_id: str
    ) -> Verdict:
        return self._decide(
            "agreement", True, lambda: self.inner.agreement_acceptable(requested, agreement, provider_id, consumer_id)
        )

    def transfer(self, agreement: Mapping[str, Any], claims: VerifiedClaims, usage: UsageContext) -> Verdict:
        return self._decide("transfer", True, lambda: self.inner.transfer(agreement, claims, usage))
