"""Cross-cutting HTTP concerns shared by the listeners: request ids, access logs, peer identity, API keys.

Handlers never repeat these: a protocol handler can rely on `peer_of(request)` being a verified participant,
a management handler on the caller having presented the API key.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web
from cryptography import x509

from connector.errors import ConnectorError, Problem
from connector.log import request_id
from connector.pki.certificates import participant_id_of
from connector.telemetry import NO_TRACER, Tracer
from connector.web.tls import peer_certificate

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
access_log = logging.getLogger("connector.access")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")


@dataclass(frozen=True)
class PeerIdentity:
    """The participant on the other end of a mutual-TLS connection, as its certificate names it."""

    participant_id: str
    certificate: x509.Certificate | None  # None only for the insecure test profile


def open_route(handler: Handler) -> Handler:
    """Mark a route as reachable without a client certificate (protocol: version, DID documents) or without the
    API key (management: what the operator configured open)."""
    handler.open_to_anyone = True  # type: ignore[attr-defined]
    return handler


def is_open(request: web.Request) -> bool:
    return getattr(request.match_info.route.handler, "open_to_anyone", False)


# The tracer of the node whose listener serves an application (none: no spans).
TRACER = web.AppKey("tracer", Tracer)


def own_authentication(handler: Handler) -> Handler:
    """Mark a management route that authenticates its callers itself (the console's session), so that the API
    key is not asked of it."""
    handler.authenticates_itself = True  # type: ignore[attr-defined]
    return handler


PEER = web.RequestKey("peer", PeerIdentity)


def peer_of(request: web.Request) -> PeerIdentity:
    peer = request.get(PEER)
    if peer is None:
        raise ConnectorError("auth.no_peer", "this route needs an authenticated peer")
    return peer


def json_error(status: int, code: str, reason: str, **extra: Any) -> web.Response:
    return web.json_response({"code": code, "reason": reason, **extra}, status=status)


@web.middleware
async def request_context(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give every request an id (taken from X-Request-Id when sane), log it once with its outcome."""
    incoming = request.headers.get("X-Request-Id", "")
    rid = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex[:16]
    token = request_id.set(rid)
    started = time.perf_counter()
    status = 500
    tracer = request.app.get(TRACER, NO_TRACER)
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "(no route)"
    try:
        # The server span continues the caller's trace when its request carries a W3C `traceparent`.
        with tracer.span(
            f"{request.method} {route}",
            kind="server",
            attributes={"http.request.method": request.method, "http.route": route, "connector.request_id": rid},
            carrier=request.headers,
        ) as span:
            try:
                response = await handler(request)
                status = response.status
            except web.HTTPException as exc:
                status = exc.status
                raise
            finally:
                span.set("http.response.status_code", status)
                if status >= 500:
                    span.failed(f"HTTP {status}")
        response.headers["X-Request-Id"] = rid
        return response
    except web.HTTPException as exc:
        exc.headers["X-Request-Id"] = rid
        raise
    finally:
        peer = request.get(PEER)
        fields: dict[str, Any] = {"ms": round((time.perf_counter() - started) * 1000, 2)}
        if peer is not None:  # management and open routes have none
            fields["peer"] = peer.participant_id
        access_log.info("%s %s %s", request.method, request.path, status, extra=fields)
        request_id.reset(token)


class Revocation(Protocol):
    def is_revoked(self, cert: x509.Certificate) -> bool: ...

    def revocation_unknown(self, cert: x509.Certificate) -> bool: ...


PEER_PROBLEM = web.RequestKey("peer_problem", Problem)


def peer_identity(
    revocation: Revocation, insecure_participant: str | None = None, defer: bool = False, optional: bool = False
) -> Any:
    """Expose the peer a verified client certificate names (`PEER`); refuse every route not marked open to a
    connection without one, unless certificates are `optional` (the route's own authentication then names the
    peer from its token, and a request without a certificate has neither `PEER` nor `PEER_PROBLEM`).

    The TLS layer has already verified the chain and the CRL at handshake; the check here also catches a
    certificate revoked after its connection was opened, and one that names no single participant id. Open routes
    are served whatever the certificate says. With `defer`, a protected route is not refused here: the problem is
    left in `PEER_PROBLEM` for the route's own authentication, which answers in its protocol's terms and records
    the refusal.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        cert = peer_certificate(request.transport)
        problem: Problem | None = None
        if cert is not None:
            pid = participant_id_of(cert)
            if revocation.is_revoked(cert):
                problem = Problem("certificate.revoked", "the client certificate has been revoked")
            elif revocation.revocation_unknown(cert):
                problem = Problem(
                    "revocation.unavailable",
                    "the revocation list of the client certificate's authority could not be fetched: its "
                    "participants are refused until it is",
                )
            elif pid is not None:
                request[PEER] = PeerIdentity(pid, cert)
            else:
                problem = Problem(
                    "certificate.no_participant_id", "the client certificate names no did: participant id"
                )
        elif insecure_participant is not None:
            request[PEER] = PeerIdentity(insecure_participant, None)
        elif not optional:
            problem = Problem(
                "certificate.missing", "this route requires a client certificate issued by a trusted authority"
            )
        if problem is not None and not is_open(request):
            if defer:
                request[PEER_PROBLEM] = problem
            elif problem.code.endswith(".unavailable"):
                response = json_error(503, problem.code, problem.reason)
                response.headers["Retry-After"] = "5"
                return response
            else:
                return json_error(401, problem.code, problem.reason)
        return await handler(request)

    return middleware


def api_key_auth(expected: str) -> Any:
    """Constant-time check of the X-Api-Key header (open: the /check/* probes, and the routes that authenticate
    their callers themselves)."""
    expected_bytes = expected.encode()

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/check/") or request.path == "/v1/openapi.json" or is_open(request):
            return await handler(request)
        if getattr(request.match_info.route.handler, "authenticates_itself", False):
            return await handler(request)
        presented = request.headers.get("X-Api-Key", "").encode()
        if not presented or not hmac.compare_digest(presented, expected_bytes):
            from connector.web.problems import problem_response

            return problem_response(
                401, "auth.api_key", "Unauthorized", "a valid API key is required in the X-Api-Key header"
            )
        return await handler(request)

    return middleware
