"""The management listener's application: API-key protected REST for the organisation's own tools."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from connector import __version__
from connector.node.appkeys import NODE
from connector.web.middleware import api_key_auth, request_context
from connector.web.problems import problem_middleware

if TYPE_CHECKING:
    from connector.node.runtime import Node

EXTRA_ROUTES: list[Callable[[Node], list[web.RouteDef]]] = []


async def health(request: web.Request) -> web.Response:
    node = request.app[NODE]
    store_ok = node.store is not None and await node.store.healthy()
    body = {
        "status": "ok" if store_ok and node.ready else "degraded",
        "participantId": node.participant_id,
        "version": __version__,
        "uptimeSeconds": round(time.monotonic() - node.started_at, 1),
        "checks": {"store": "ok" if store_ok else "failing", "listeners": sorted(node.listeners)},
    }
    return web.json_response(body, status=200 if body["status"] == "ok" else 503)


async def readiness(request: web.Request) -> web.Response:
    node = request.app[NODE]
    ready = node.ready and node.store is not None and await node.store.healthy()
    return web.json_response({"ready": ready}, status=200 if ready else 503)


async def liveness(request: web.Request) -> web.Response:
    # Answering at all proves the event loop runs; measure how late a zero sleep comes back.
    started = time.perf_counter()
    await asyncio.sleep(0)
    return web.json_response({"alive": True, "loopLagMs": round((time.perf_counter() - started) * 1000, 3)})


def build_management_app(node: Node) -> web.Application:
    app = web.Application(
        middlewares=[request_context, problem_middleware, api_key_auth(node.config.management_api_key())]
    )
    app[NODE] = node
    routes = [
        web.get("/check/health", health),
        web.get("/check/readiness", readiness),
        web.get("/check/liveness", liveness),
    ] + list(node.management_routes)
    for extra in EXTRA_ROUTES:
        routes.extend(extra(node))
    app.add_routes(routes)
    return app
