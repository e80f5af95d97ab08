"""What one client may take of a listener: connections, concurrent requests, time and bytes.

Every listener is served by a `GuardedSite`: a connection beyond `max_connections` (or beyond
`max_connections_per_peer` for one client) is closed as soon as it is made, and a connection that has not sent a
complete request head within `header_timeout` is closed. aiohttp's keep-alive timer (`idle_timeout`) closes idle
connections and bounds the head of every further request. The `request_limits` middleware refuses a body whose
declared length is too large before a byte of it is read, and requests beyond the concurrency caps with 503 and
Retry-After; bodies are read with `web.bodies.read_body`, which stops at `max_message_bytes` and `body_timeout`
whatever the client declared.

A client is a peer by its certificate (the SHA-256 of the DER a TLS handshake verified), or else its address: on
the protocol listener a certificate holder cannot exceed its share by opening more connections.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import ssl
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from connector.config import LimitsSection
from connector.errors import Problem

log = logging.getLogger("connector.limits")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Builds the listener's own error body (a DSP error, RFC 9457 problem details) for a refusal.
Refuse = Callable[[web.Request, int, Problem], web.StreamResponse]
RETRY_AFTER = "1"


def client_key(transport: Any) -> str:
    """Who a connection is from: its verified client certificate's digest, or its remote address."""
    sslobj = transport.get_extra_info("ssl_object") if transport is not None else None
    if sslobj is not None:
        der = sslobj.getpeercert(binary_form=True)
        if der:
            return "cert:" + hashlib.sha256(der).hexdigest()
    peer = transport.get_extra_info("peername") if transport is not None else None
    return f"addr:{peer[0]}" if peer else "addr:unknown"


@dataclass
class ConnectionBook:
    """Open connections of one listener, in all and by client."""

    max_total: int
    max_per_client: int
    total: int = 0

    def __post_init__(self) -> None:
        self.by_client: Counter[str] = Counter()

    def admit(self, client: str) -> str | None:
        """Count a new connection in, or say why it is refused."""
        if self.total >= self.max_total:
            return "the listener has reached its connection limit"
        if self.by_client[client] >= self.max_per_client:
            return "this client has reached its connection limit"
        self.total += 1
        self.by_client[client] += 1
        return None

    def release(self, client: str) -> None:
        self.total -= 1
        self.by_client[client] -= 1
        if self.by_client[client] <= 0:
            del self.by_client[client]


class _Guarded(asyncio.Protocol):
    """One connection: counted against the listener's limits, given `header_timeout` for its first request head.

    asyncio calls these methods; each passes on to aiohttp's handler for the connection."""

    def __init__(self, handler: RequestHandler, book: ConnectionBook, header_timeout: float) -> None:
        self._handler = handler
        self._book = book
        self._header_timeout = header_timeout
        self._client: str | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        client = client_key(transport)
        refused = self._book.admit(client)
        if refused is not None:
            log.warning("connection refused: %s", refused, extra={"client": client})
            transport.abort()  # type: ignore[attr-defined]
            return
        self._client = client
        self._transport = transport
        self._deadline = asyncio.get_running_loop().call_later(self._header_timeout, self._too_slow)
        self._handler.connection_made(transport)

    def _too_slow(self) -> None:
        self._deadline = None
        if self._transport is not None and not self._transport.is_closing():
            log.info("connection closed: no complete request head in time", extra={"client": self._client})
            self._transport.abort()  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self._client is None:
            return
        self._handler.data_received(data)
        # aiohttp counts the request heads it has parsed: once there is one, the deadline has been met.
        if self._deadline is not None and getattr(self._handler, "_request_count", 1) > 0:
            self._deadline.cancel()
            self._deadline = None

    def eof_received(self) -> bool | None:
        if self._client is not None:
            self._handler.eof_received()
        return None  # close the transport (aiohttp's handler never keeps a half-closed connection open)

    def pause_writing(self) -> None:
        self._handler.pause_writing()

    def resume_writing(self) -> None:
        self._handler.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._client is None:
            return
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        self._book.release(self._client)
        self._client = None
        self._handler.connection_lost(exc)


class GuardedSite(web.TCPSite):
    """A TCP site whose every connection is counted and timed against `limits`."""

    def __init__(
        self,
        runner: web.AppRunner,
        host: str,
        port: int,
        limits: LimitsSection,
        ssl_context: ssl.SSLContext | None = None,
        reuse_port: bool = False,
    ) -> None:
        super().__init__(runner, host, port, ssl_context=ssl_context, reuse_address=True, reuse_port=reuse_port)
        self.limits = limits
        self.book = ConnectionBook(limits.max_connections, limits.max_connections_per_peer)

    async def start(self) -> None:
        # What web.TCPSite.start does, with each aiohttp handler wrapped in the connection guard.
        await web.BaseSite.start(self)  # registers the site with its runner
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        timeout = self.limits.header_timeout

        def factory() -> asyncio.Protocol:
            return _Guarded(server(), self.book, timeout)

        self._server = await loop.create_server(
            factory,
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port


class RequestBook:
    """Requests in progress on one listener, in all and by client."""

    def __init__(self, max_total: int, max_per_client: int) -> None:
        self.max_total = max_total
        self.max_per_client = max_per_client
        self.total = 0
        self.by_client: Counter[str] = Counter()


def request_limits(
    limits: LimitsSection, refuse: Refuse, exempt: Callable[[web.Request], bool] = lambda r: False
) -> Any:
    """Refuse oversized declared bodies before reading them, and requests beyond the concurrency caps.

    `exempt` requests (streams of data, probes) are not subject to the message size; they are still counted."""
    book = RequestBook(limits.max_requests, limits.max_requests_per_peer)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        length = request.content_length
        if length is not None and length > limits.max_message_bytes and not exempt(request):
            response = refuse(
                request,
                413,
                Problem(
                    "request.too_large",
                    f"the body declares {length} bytes; at most {limits.max_message_bytes} are accepted",
                ),
            )
            response.force_close()  # the body is not read: the connection cannot carry another request
            return response
        client = client_key(request.transport)
        if book.total >= book.max_total or book.by_client[client] >= book.max_per_client:
            response = refuse(
                request,
                503,
                Problem("request.busy", "too many requests in progress; retry shortly"),
            )
            response.headers["Retry-After"] = RETRY_AFTER
            return response
        book.total += 1
        book.by_client[client] += 1
        try:
            return await handler(request)
        finally:
            book.total -= 1
            book.by_client[client] -= 1
            if book.by_client[client] <= 0:
                del book.by_client[client]

    return middleware


class Gate:
    """Whether a listener still takes new work. The node closes it when it begins to stop: what it guards is then
    answered 503 with Retry-After (the caller comes back once the node runs again), while everything else (what a
    peer needs to verify the node's last messages: DID documents, the credential service) is still served."""

    def __init__(self) -> None:
        self.open = True

    def close(self) -> None:
        self.open = False


def gated(gate: Gate, refuse: Refuse, guarded: Callable[[web.Request], bool]) -> Any:
    """The middleware of `gate`: `guarded` requests arriving once it is closed are refused as "not now"."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not gate.open and guarded(request):
            response = refuse(request, 503, Problem("node.unavailable", "the node is stopping; retry shortly"))
            response.headers["Retry-After"] = RETRY_AFTER
            return response
        return await handler(request)

    return middleware
