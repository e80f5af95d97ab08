"""The management listener's application: API-key protected REST for the organisation's own tools.

Its routes come in groups (definitions, processes, the data plane's, trust's, evidence's), each with its OpenAPI
description; the probes under /check/ and the OpenAPI document are open.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, Protocol

from aiohttp import web

from connector import __version__
from connector.config import LimitsSection
from connector.errors import Problem
from connector.management.openapi import SECTION
from connector.trust.edge.freshness import Freshness
from connector.web.inputs import LIMITS
from connector.web.limits import request_limits
from connector.web.middleware import api_key_auth, request_context
from connector.web.openapi import RouteGroup, serving
from connector.web.problems import from_problem, problem_middleware


def problem_refusal(request: web.Request, status: int, problem: Problem) -> web.StreamResponse:
    response = from_problem(problem, status)
    if status == 503:
        response.headers["Retry-After"] = "1"
    return response


class NodeStatus(Protocol):
    """What the probes report about the running node."""

    @property
    def participant_id(self) -> str: ...

    started_at: float  # time.monotonic() at start
    ready: bool

    def listener_names(self) -> list[str]: ...

    async def store_healthy(self) -> bool: ...

    def freshness(self) -> Freshness | None: ...


class Probes:
    def __init__(self, status: NodeStatus) -> None:
        self.status = status

    async def health(self, request: web.Request) -> web.Response:
        status = self.status
        store_ok = await status.store_healthy()
        freshness = status.freshness()
        material_ok = freshness is None or freshness.ok
        checks: dict[str, Any] = {
            "store": "ok" if store_ok else "failing",
            "listeners": sorted(status.listener_names()),
        }
        if freshness is not None:
            checks["trustMaterial"] = freshness.to_json()
        body = {
            "status": "ok" if store_ok and status.ready and material_ok else "degraded",
            "participantId": status.participant_id,
            "version": __version__,
            "uptimeSeconds": round(time.monotonic() - status.started_at, 1),
            "checks": checks,
        }
        return web.json_response(body, status=200 if body["status"] == "ok" else 503)

    async def readiness(self, request: web.Request) -> web.Response:
        ready = self.status.ready and await self.status.store_healthy()
        return web.json_response({"ready": ready}, status=200 if ready else 503)

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


def build_management_app(
    api_key: str, status: NodeStatus, groups: Sequence[RouteGroup], limits: LimitsSection
) -> web.Application:
    app = web.Application(
        middlewares=[
            request_context,
            problem_middleware,
            request_limits(limits, problem_refusal),
            api_key_auth(api_key),
        ],
        client_max_size=limits.max_message_bytes,
    )
    app[LIMITS] = limits
    every = [Probes(status).group(), *groups]
    every.append(serving([SECTION, *(g.api for g in every)]))
    for group in every:
        app.add_routes(group.routes)
    return app
