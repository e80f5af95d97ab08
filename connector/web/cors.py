"""Cross-origin calls from browser pages (CORS), for the management API: off unless origins are configured.

Without configured origins no response carries an `Access-Control-Allow-Origin` header, so a browser refuses to
let another site's page read the API (a page could still make its user's browser send requests, but never with
the API key, which only the caller holds). For a configured origin, a preflight (`OPTIONS` with
`Access-Control-Request-Method`) is answered here, before authentication, as browsers send it without the key;
every other request still needs the key, and its response names the origin. A preflight from any other origin is
refused with 403.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from aiohttp import web

from connector.web.problems import problem_response

METHODS = "GET, POST, PUT, DELETE"
REQUEST_HEADERS = "X-Api-Key, Content-Type, X-Request-Id, traceparent, tracestate"
EXPOSED_HEADERS = "X-Request-Id, Location, Link, Retry-After"
PREFLIGHT_MAX_AGE = "600"


def cors(origins: Iterable[str]) -> Any:
    allowed = frozenset(origins)

    @web.middleware
    async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        preflight = request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers
        if origin is None:
            return await handler(request)
        if origin not in allowed:
            if preflight:
                return problem_response(
                    403, "cors.origin", "Forbidden", f"the origin {origin[:200]} may not call this API from a browser"
                )
            return await handler(request)
        if preflight:
            return web.Response(
                status=204,
                headers={
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Methods": METHODS,
                    "Access-Control-Allow-Headers": REQUEST_HEADERS,
                    "Access-Control-Max-Age": PREFLIGHT_MAX_AGE,
                    "Vary": "Origin",
                },
            )
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            _allow(exc.headers, origin)
            raise
        _allow(response.headers, origin)
        return response

    return middleware


def _allow(headers: Any, origin: str) -> None:
    headers["Access-Control-Allow-Origin"] = origin
    headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    headers.add("Vary", "Origin")
