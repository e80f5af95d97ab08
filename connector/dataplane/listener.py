"""The data listener's application: mutual TLS only, the pull and push endpoints, errors as JSON.

Every route needs a client certificate from a recognised authority that names one participant (the same
middleware as the protocol listener, so a certificate revoked after its connection opened is refused too); each
handler then requires that participant to be the transfer's counterpart. Errors are ``{"code", "reason"}`` with
the status the refusal calls for.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from connector.dataplane.gate import Refused
from connector.dataplane.sources import SourceError, http_status_for
from connector.errors import ConnectorError
from connector.node.appkeys import NODE
from connector.web.middleware import json_error, peer_identity, request_context
from connector.web.ranges import RangeNotSatisfiable, format_unsatisfied_range

if TYPE_CHECKING:
    from connector.dataplane.service import DataPlane

log = logging.getLogger("connector.dataplane")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
READ_BUFFER = 4 * 1024 * 1024


@web.middleware
async def problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Refused as exc:
        headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if exc.status == 401 else None
        return _error(exc.status, exc, headers)
    except RangeNotSatisfiable as exc:
        return _error(416, exc, {"Content-Range": format_unsatisfied_range(exc.total)})
    except SourceError as exc:
        status = http_status_for(exc.problem)
        if status >= 500:
            log.warning("source failed", extra={"code": exc.code, "reason": exc.reason, "path": request.path})
        return _error(status, exc)
    except ConnectorError as exc:
        return _error(400, exc)


def _error(status: int, exc: ConnectorError, headers: dict[str, str] | None = None) -> web.Response:
    response = json_error(status, exc.code, exc.reason, **({"where": exc.where} if exc.where else {}))
    response.headers.update(headers or {})
    return response


async def _not_found(request: web.Request) -> web.Response:
    return json_error(404, "route.not_found", f"no such endpoint: {request.method} {request.path}")


def build_data_app(plane: DataPlane) -> web.Application:
    node = plane.node
    identify = peer_identity(lambda: node.trust)  # type: ignore[arg-type,return-value]
    app = web.Application(
        middlewares=[request_context, identify, problems],
        client_max_size=1024 * 1024,
        handler_args={"read_bufsize": READ_BUFFER},
    )
    app[NODE] = node
    app.add_routes(
        [
            web.get("/data/{transfer}", plane.provider.pull, allow_head=False),
            web.get("/data/{transfer}/seal", plane.provider.seal, allow_head=False),
            web.post("/data/{transfer}/token", plane.provider.refresh),
            web.post("/push/{transfer}", plane.consumer.receive_push),
            web.post("/push/{transfer}/seal", plane.consumer.receive_push_seal),
        ]
    )
    app.router.add_route("*", "/{tail:.*}", _not_found)
    return app
