"""The management listener's application: API-key protected REST for the organisation's own tools.

Its routes come in groups (definitions, processes, the data plane's, trust's, evidence's), each with its OpenAPI
description; the probes under /check/ and the OpenAPI document are open.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from connector import __version__
from connector.config import LimitsSection
from connector.errors import Problem
from connector.store.errors import StoreUnavailable
from connector.trust.edge.freshness import Freshness
from connector.web.cors import cors
from connector.web.inputs import LIMITS
from connector.web.limits import request_limits
from connector.web.middleware import api_key_auth, request_context
from connector.web.openapi import ApiSection, RouteGroup, serving
from connector.web.problems import from_problem, problem_middleware

log = logging.getLogger("connector.management")


def problem_refusal(request: web.Request, status: int, problem: Problem) -> web.StreamResponse:
    response = from_problem(problem, status)
    if status == 503:
        response.headers["Retry-After"] = "1"
    return response


@web.middleware
async def store_failures(request: web.Request, handler: Any) -> web.StreamResponse:
    """A store that cannot be used now (a full disk, a lock, a lost connection) is not a failure of the request
    nor a bug: 503 with Retry-After and the database's words (nothing was kept), not 500."""
    try:
        return await handler(request)
    except StoreUnavailable as exc:
        log.warning("store failed while handling %s %s: %s", request.method, request.path, exc)
        reason = f"the node cannot use its store right now ({exc}); nothing was changed, retry later"
        return problem_refusal(request, 503, Problem("store.unavailable", reason))


@dataclass(frozen=True)
class HealthCheck:
    """One part of the node, checked by exercising it: `name` (store, certificate, crl, trust_lists, peers),
    whether it holds, what was found, and whether a failure takes the node out of rotation (readiness)."""

    name: str
    ok: bool
    detail: str
    readiness: bool = True


class NodeStatus(Protocol):
    """What the probes report about the running node."""

    @property
    def participant_id(self) -> str: ...

    started_at: float  # time.monotonic() at start
    ready: bool

    def listener_names(self) -> list[str]: ...

    async def store_healthy(self) -> bool: ...

    async def health_checks(self) -> list[HealthCheck]: ...

    def freshness(self) -> Freshness | None: ...


def _problems(checks: list[HealthCheck]) -> list[dict[str, str]]:
    return [{"check": c.name, "detail": c.detail} for c in checks if not c.ok]


def _lapsed(freshness: Freshness | None) -> list[dict[str, str]]:
    """Trust material that has expired, as problems."""
    if freshness is None:
        return []
    return [
        {"check": "trustMaterial", "detail": f"{m.kind} {m.name} has expired"}
        for m in freshness.attention
        if m.state == "expired"
    ]


class Probes:
    def __init__(self, status: NodeStatus) -> None:
        self.status = status

    async def health(self, request: web.Request) -> web.Response:
        """Every check, exercised now; the body names what failed and why."""
        status = self.status
        checks = await status.health_checks()
        freshness = status.freshness()
        healthy = status.ready and all(c.ok for c in checks) and (freshness is None or freshness.ok)
        summary: dict[str, Any] = {
            **{c.name: "ok" if c.ok else "failing" for c in checks},
            "listeners": sorted(status.listener_names()),
        }
        if freshness is not None:
            summary["trustMaterial"] = freshness.to_json()  # what expires soon or has expired, soonest first
        body = {
            "status": "ok" if healthy else "degraded",
            "participantId": status.participant_id,
            "version": __version__,
            "uptimeSeconds": round(time.monotonic() - status.started_at, 1),
            "checks": summary,
            "details": {c.name: c.detail for c in checks},
            "problems": _problems(checks)
            + _lapsed(freshness)
            + ([] if status.ready else [{"check": "node", "detail": "not running"}]),
        }
        return web.json_response(body, status=200 if healthy else 503)

    async def readiness(self, request: web.Request) -> web.Response:
        """Ready: running, and every check that takes the node out of rotation holds (peers' refusals do not)."""
        checks = [c for c in await self.status.health_checks() if c.readiness] if self.status.ready else []
        ready = self.status.ready and all(c.ok for c in checks)
        body = {"ready": ready, "problems": _problems(checks)}
        return web.json_response(body, status=200 if ready else 503)

    @staticmethod
    async def liveness(request: web.Request) -> web.Response:
        # Answering at all proves the event loop runs; measure how late a zero sleep comes back.
        started = time.perf_counter()
        await asyncio.sleep(0)
        return web.json_response({"alive": True, "loopLagMs": round((time.perf_counter() - started) * 1000, 3)})

    def group(self) -> RouteGroup:
        return RouteGroup(
            [
                web.get("/check/health", self.health),
                web.get("/check/readiness", self.readiness),
                web.get("/check/liveness", self.liveness),
            ]
        )


def _own_section() -> ApiSection:
    """The management API's own description, loaded with the first request for the document."""
    from connector.management.openapi import SECTION

    return SECTION


def build_management_app(
    api_key: str,
    status: NodeStatus,
    groups: Sequence[RouteGroup],
    limits: LimitsSection,
    cors_origins: Sequence[str] = (),
) -> web.Application:
    app = web.Application(
        middlewares=[
            request_context,
            # Browsers from configured origins only (management.cors_origins); none by default.
            *([cors(cors_origins)] if cors_origins else []),
            problem_middleware,
            store_failures,
            request_limits(limits, problem_refusal),
            api_key_auth(api_key),
        ],
        client_max_size=limits.max_message_bytes,
    )
    app[LIMITS] = limits
    every = [Probes(status).group(), *groups]
    sections = [g.api for g in every]
    every.append(serving(lambda: [_own_section(), *sections]))
    for group in every:
        app.add_routes(group.routes)
    return app
