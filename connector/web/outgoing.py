"""The node's outgoing HTTPS: one pooled session presenting our certificate, renewed when the trust changes.

Every request to a peer goes through `OutgoingHttp.session()`. When `PeerTls` has been rebuilt (a CRL or trust list
changed), the next call opens a new session with the new client context; the old pool keeps serving the requests
already on it and closes after a grace period.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from connector import __version__
from connector.web.tls import PeerTls, peer_certificate

DRAIN_GRACE = 10.0  # seconds an old pool keeps serving the requests already on it


class IdentifiedResponse(aiohttp.ClientResponse):
    """A response that remembers the server's certificate (the connection may be pooled again before we look)."""

    peer_cert: Any = None

    async def start(self, connection: Any) -> IdentifiedResponse:
        transport = connection.transport if connection is not None else None
        self.peer_cert = peer_certificate(transport) if transport is not None else None
        await super().start(connection)
        return self


class OutgoingHttp:
    def __init__(self, tls: PeerTls | None) -> None:
        self._tls = tls
        self._session: aiohttp.ClientSession | None = None
        self._generation = -1
        self._draining: set[asyncio.Task[None]] = set()
        self._closed = False

    def session(self) -> aiohttp.ClientSession:
        """The session to send with now (must be called on the event loop)."""
        if self._closed:
            from connector.errors import ConnectorError

            raise ConnectorError("peer.no_session", "the node is not running")
        generation = self._tls.generation if self._tls is not None else 0
        if self._session is None or generation != self._generation:
            old, self._session, self._generation = self._session, self._new_session(), generation
            if old is not None:
                task = asyncio.ensure_future(self._close_later(old))
                self._draining.add(task)
                task.add_done_callback(self._draining.discard)
        return self._session

    def _new_session(self) -> aiohttp.ClientSession:
        ssl_ctx = self._tls.client_context() if self._tls is not None else False
        conn = aiohttp.TCPConnector(ssl=ssl_ctx, limit=200, limit_per_host=50, keepalive_timeout=60)
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
        if self._session is not None:
            await self._session.close()
            self._session = None
