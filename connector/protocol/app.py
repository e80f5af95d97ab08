"""The protocol listener's application: its routes, middlewares and state in one place."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from connector.web.middleware import json_error, peer_identity, request_context
from connector.web.tls import PeerTls

MAX_BODY = 4 * 1024 * 1024


def build_protocol_app(tls: PeerTls | None, routes: Sequence[web.RouteDef]) -> web.Application:
    """`tls` None: the plain-HTTP conformance profile (no peer certificates; the verifier seam decides alone)."""
    middlewares = [request_context] if tls is None else [request_context, peer_identity(tls)]
    app = web.Application(middlewares=middlewares, client_max_size=MAX_BODY)
    app.add_routes(routes)
    app.router.add_route("*", "/{tail:.*}", _not_found)
    return app


async def _not_found(request: web.Request) -> web.Response:
    return json_error(404, "route.not_found", f"no such endpoint: {request.method} {request.path}")
