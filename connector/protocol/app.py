"""The protocol listener's application: its routes, middlewares and state in one place."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from aiohttp import web

from connector.node.appkeys import NODE
from connector.protocol import version
from connector.web.middleware import json_error, peer_identity, request_context

if TYPE_CHECKING:
    from connector.node.runtime import Node

# Further protocol routes (DSP, DID document, credential service) are added by their subsystems.
EXTRA_ROUTES: list[Callable[[Node], list[web.RouteDef]]] = []

TCK_INSECURE_PARTICIPANT = "TCK_PARTICIPANT"


def build_protocol_app(node: Node) -> web.Application:
    insecure = node.config.protocol.insecure_http
    app = web.Application(
        middlewares=[
            request_context,
            peer_identity(lambda: node.trust, insecure_participant=None),  # type: ignore[arg-type,return-value]
        ]
        if not insecure
        else [request_context],
        client_max_size=4 * 1024 * 1024,
    )
    app[NODE] = node
    routes = list(version.ROUTES) + list(node.protocol_routes)
    for extra in EXTRA_ROUTES:
        routes.extend(extra(node))
    app.add_routes(routes)
    app.router.add_route("*", "/{tail:.*}", _not_found)
    return app


async def _not_found(request: web.Request) -> web.Response:
    return json_error(404, "route.not_found", f"no such endpoint: {request.method} {request.path}")
