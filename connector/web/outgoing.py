"""The node's outgoing HTTPS: three pooled sessions, renewed when the trust changes.

- `session()` talks to peers: it presents our certificate, and a request made while `EXPECTED_PEER` names a
  participant goes out only on a connection whose server certificate names that participant - checked after the
  handshake and before a byte of the request is written, on new and reused connections alike. When peers may do
  without certificates (`accept_web_pki`), a server certificate that names no participant at all is accepted if
  it is an ordinary web certificate valid for the host reached (system or configured authorities, host name
  checked at the handshake, not revoked by a CRL the node holds): such a peer is known by its DCP tokens, and the
  address was chosen by configuration or by a message its token authenticated. One that names another
  participant is still refused.
- `identity()` is the same for what verifying a peer needs from the peer itself (its credential service on its
  own host), through a pool of its own: a peer's messages waiting for connections never hold up the
  verification that would let them through.
- `public()` fetches public material (DID documents, status lists, trust lists, time stamps, a credential service
  on another host): it never presents our certificate, trusts the federations' CAs and the system's, and has a
  pool of its own, so that identity material never waits behind message traffic.

When `PeerTls` has been rebuilt (a CRL or trust list changed), the next call opens new sessions with the new
contexts; the old pools keep serving the requests already on them and close after a grace period.
"""

from __future__ import annotations

import asyncio
import ssl
from contextvars import ContextVar
from typing import Any

import aiohttp

from connector import __version__
from connector.errors import ConnectorError
from connector.pki.certificates import participant_id_of
from connector.web.tls import PeerTls, peer_certificate

DRAIN_GRACE = 10.0  # seconds an old pool keeps serving the requests already on it
# The participant the requests of the current task are meant for (set around a request by PeerClient, Fetcher).
EXPECTED_PEER: ContextVar[str | None] = ContextVar("expected_peer", default=None)


class IdentifiedResponse(aiohttp.ClientResponse):
    """A response that remembers the server's certificate (the connection may be pooled again before we look)."""

    peer_cert: Any = None

    async def start(self, connection: Any) -> IdentifiedResponse:
        transport = connection.transport if connection is not None else None
        self.peer_cert = peer_certificate(transport) if transport is not None else None
        await super().start(connection)
        return self


class _PeerCheckingConnector(aiohttp.TCPConnector):
    """Hands a request a connection only if its server is the participant the request is meant for (or, with
    `web_pki`, a web server that names no participant, as an EDC connector's)."""

    def __init__(self, *args: Any, web_pki: PeerTls | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._web_pki = web_pki

    async def connect(self, req: Any, traces: Any, timeout: Any) -> Any:
        connection = await super().connect(req, traces, timeout)
        expected = EXPECTED_PEER.get()
        if expected is not None and req.url.scheme == "https":
            cert = peer_certificate(connection.transport)
            found = participant_id_of(cert) if cert is not None else None
            problem = None
            if self._web_pki is not None and cert is not None and self._web_pki.is_revoked(cert):
                problem = ConnectorError("peer.revoked", f"the certificate of {req.url.origin()} has been revoked")
            elif found != expected and not (found is None and cert is not None and self._web_pki is not None):
                problem = ConnectorError(
                    "peer.identity_mismatch",
                    f"{req.url.origin()} is served by {found or 'an unidentified party'}, not by {expected}",
                )
            if problem is not None:
                connection.close()  # never used, never pooled again
                raise problem
        return connection


class OutgoingHttp:
    def __init__(self, tls: PeerTls | None, accept_web_pki: bool = False) -> None:
        """`accept_web_pki`: peers may be served under ordinary web certificates (see the module's note)."""
        self._tls = tls
        self._web_pki = accept_web_pki
        self._sessions: dict[str, tuple[int, aiohttp.ClientSession]] = {}
        self._draining: set[asyncio.Task[None]] = set()
        self._closed = False

    def session(self) -> aiohttp.ClientSession:
        """The session to talk to peers with now (must be called on the event loop)."""
        return self._current("peers")

    def public(self) -> aiohttp.ClientSession:
        """The session to fetch public material with (no client certificate, a pool of its own)."""
        return self._current("public")

    def identity(self) -> aiohttp.ClientSession:
        """The session to ask a peer for what verifying it needs (our certificate, checked like `session()`, and
        a pool apart from message traffic)."""
        return self._current("identity")

    def _current(self, kind: str) -> aiohttp.ClientSession:
        if self._closed:
            raise ConnectorError("peer.no_session", "the node is not running")
        generation = self._tls.generation if self._tls is not None else 0
        held = self._sessions.get(kind)
        if held is None or held[0] != generation:
            self._sessions[kind] = (generation, self._new_session(kind))
            if held is not None:
                task = asyncio.ensure_future(self._close_later(held[1]))
                self._draining.add(task)
                task.add_done_callback(self._draining.discard)
        return self._sessions[kind][1]

    def _new_session(self, kind: str) -> aiohttp.ClientSession:
        conn: aiohttp.TCPConnector
        if kind in ("peers", "identity"):
            ssl_ctx: ssl.SSLContext | bool = False
            web_pki = self._tls if self._web_pki else None
            if self._tls is not None:
                ssl_ctx = self._tls.web_client_context() if web_pki is not None else self._tls.client_context()
            # Keep-alive shorter than the peers' idle timeout, so that a pooled connection is not reused just
            # as the server closes it.
            limit, per_host = (200, 50) if kind == "peers" else (64, 8)
            conn = _PeerCheckingConnector(
                ssl=ssl_ctx, limit=limit, limit_per_host=per_host, keepalive_timeout=15, web_pki=web_pki
            )
        else:
            public: ssl.SSLContext | bool = self._tls.public_context() if self._tls is not None else True
            conn = aiohttp.TCPConnector(ssl=public, limit=64, limit_per_host=16, keepalive_timeout=15)
        return aiohttp.ClientSession(
            connector=conn,
            timeout=aiohttp.ClientTimeout(total=30, connect=5),
            headers={"User-Agent": f"connector/{__version__}"},
            response_class=IdentifiedResponse,
        )

    @staticmethod
    async def _close_later(session: aiohttp.ClientSession) -> None:
        try:
            await asyncio.sleep(DRAIN_GRACE)
        finally:
            await session.close()

    async def close(self) -> None:
        self._closed = True
        for task in list(self._draining):
            task.cancel()
        await asyncio.gather(*self._draining, return_exceptions=True)
        for _, session in self._sessions.values():
            await session.close()
        self._sessions.clear()
