"""The protocol listener's application: its routes, middlewares and state in one place."""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

from connector.config import LimitsSection
from connector.dsp.versions import DSP_BASE_PATH
from connector.protocol.dsp import dsp_errors, refusal_response
from connector.web.limits import Gate, gated, request_limits
from connector.web.middleware import json_error, peer_identity, request_context
from connector.web.tls import PeerTls


def build_protocol_app(
    tls: PeerTls | None,
    routes: Sequence[web.RouteDef],
    limits: LimitsSection,
    certificate_optional: bool = False,
    gate: Gate | None = None,
) -> web.Application:
    """`tls` None: the plain-HTTP conformance profile (no peer certificates; the verifier seam decides alone).
    `certificate_optional`: a peer without a client certificate reaches the verifier seam, which authenticates it
    by its token alone. `gate`: closed when the node stops, it refuses new DSP requests while DID documents and the
    credential service are still served."""
    middlewares = [request_context, dsp_errors]
    if gate is not None:
        middlewares.append(gated(gate, refusal_response, lambda r: r.path.startswith(DSP_BASE_PATH + "/")))
    middlewares.append(request_limits(limits, refusal_response))
    if tls is not None:
        middlewares.append(peer_identity(tls, defer=True, optional=certificate_optional))
    app = web.Application(middlewares=middlewares, client_max_size=limits.max_message_bytes)
    app.add_routes(routes)
    app.router.add_route("*", "/{tail:.*}", _not_found)
    return app


async def _not_found(request: web.Request) -> web.Response:
    return json_error(404, "route.not_found", f"no such endpoint: {request.method} {request.path}")
