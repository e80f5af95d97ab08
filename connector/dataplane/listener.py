"""The data listener's application: mutual TLS, the pull and push endpoints, errors as JSON.

Every route needs a client certificate from a recognised authority that names one participant (the same
middleware as the protocol listener, so a certificate revoked after its connection opened is refused too); each
handler then requires that participant to be the transfer's counterpart. With ``data.client_certificate =
"optional"`` a request without a certificate reaches the handlers, and a pull is authenticated by its token alone
(a certificate that is presented is still checked, and a token bound to one still needs it). Errors are
``{"code", "reason"}`` with the status the refusal calls for.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from connector.dataplane.endpoint_access import Refused
from connector.errors import ConnectorError, Problem
from connector.sources import SourceError, http_status_for
from connector.telemetry import Meter
from connector.web.bodies import CLOSING
from connector.web.limits import request_limits
from connector.web.middleware import json_error, peer_identity, request_context
from connector.web.ranges import RangeNotSatisfiable, format_unsatisfied_range

if TYPE_CHECKING:
    from connector.dataplane.data_plane import DataPlane

log = logging.getLogger("connector.dataplane")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
READ_BUFFER = 4 * 1024 * 1024
STANDING_RETRY_AFTER = 5  # seconds, when a peer's standing could not be decided (a status list unreachable)


def problems(meter: Meter) -> Any:
    """Refusals and failures as `{"code", "reason"}` with their status; each refusal counted by its code."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except Refused as exc:
            meter.refused(exc.code)
            return _refused(exc)
        except RangeNotSatisfiable as exc:
            return _error(416, exc, {"Content-Range": format_unsatisfied_range(exc.total)})
        except SourceError as exc:
            status = http_status_for(exc.problem)
            if status >= 500:
                log.warning("source failed", extra={"code": exc.code, "reason": exc.reason, "path": request.path})
            return _error(status, exc)
        except ConnectorError as exc:
            status = {"request.too_large": 413, "request.timeout": 408, "auth.no_peer": 401}.get(exc.code, 400)
            response = _error(status, exc)
            if exc.code in CLOSING:
                response.force_close()
            return response

    return middleware


def _refused(exc: Refused) -> web.Response:
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if exc.status == 401 else None
    if exc.status == 503:  # the peer's standing could not be decided now
        headers = {"Retry-After": str(STANDING_RETRY_AFTER)}
    return _error(exc.status, exc, headers)


def _error(status: int, exc: ConnectorError, headers: dict[str, str] | None = None) -> web.Response:
    response = json_error(status, exc.code, exc.reason, **({"where": exc.where} if exc.where else {}))
    response.headers.update(headers or {})
    return response


def _refusal(request: web.Request, status: int, problem: Problem) -> web.StreamResponse:
    response = json_error(status, problem.code, problem.reason)
    if status == 503:
        response.headers["Retry-After"] = "1"
    return response


def _streamed(request: web.Request) -> bool:
    """Data pushed to us is a stream of any size (bounded by the transfer, paced by `body_timeout`)."""
    return request.method == "POST" and request.path.startswith("/push/") and not request.path.endswith("/seal")


async def _not_found(request: web.Request) -> web.Response:
    return json_error(404, "route.not_found", f"no such endpoint: {request.method} {request.path}")


def build_data_app(plane: DataPlane) -> web.Application:
    identify = peer_identity(plane.tls, optional=plane.settings.client_certificate == "optional")
    limits = request_limits(plane.limits, _refusal, exempt=_streamed)
    app = web.Application(
        middlewares=[request_context, limits, identify, problems(plane.meter)],
        client_max_size=plane.limits.max_message_bytes,
        handler_args={"read_bufsize": READ_BUFFER},
    )

    # The consumer's side is made with the first push received.
    async def receive_push(request: web.Request) -> web.StreamResponse:
        return await plane.consumer.receive_push(request)

    async def receive_push_seal(request: web.Request) -> web.StreamResponse:
        return await plane.consumer.receive_push_seal(request)

    # The provider's side is made with the first pull, seal or token asked for (or push to send).
    async def pull(request: web.Request) -> web.StreamResponse:
        return await plane.provider.pull(request)

    async def seal(request: web.Request) -> web.StreamResponse:
        return await plane.provider.seal(request)

    async def refresh(request: web.Request) -> web.StreamResponse:
        return await plane.provider.refresh(request)

    app.add_routes(
        [
            web.get("/data/{transfer}", pull, allow_head=False),
            web.get("/data/{transfer}/seal", seal, allow_head=False),
            web.post("/data/{transfer}/token", refresh),
            web.post("/push/{transfer}", receive_push),
            web.post("/push/{transfer}/seal", receive_push_seal),
        ]
    )
    app.router.add_route("*", "/{tail:.*}", _not_found)
    return app
