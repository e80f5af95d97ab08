"""Connections that only ever reach the intended participant: the server's certificate is checked when the
connection is made, before a single byte of a request (a token, pushed data) is written to it.

A data endpoint comes from the other side (a data address), so its URL proves nothing; the TLS handshake proves
the server holds a certificate from a recognised authority, and this connector requires that certificate to name
the participant the transfer is with. Bytes therefore flow peer to peer, never to a third party.

When the data plane lets certificates be optional (`accept_unnamed`), a server certificate that names no
participant at all is accepted: an ordinary web certificate valid for the host of the address (the handshake
checks the host name), as an EDC data plane serves. The address then came in a message the peer's DCP token
authenticated, which is all an EDC connector relies on; a certificate naming another participant is still refused.
"""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp
from cryptography import x509

from connector.errors import ConnectorError
from connector.pki.certificates import participant_id_of
from connector.web.tls import peer_certificate


class WrongPeer(ConnectorError):
    """The server is not the participant we meant to send to or fetch from."""


def wrong_peer(
    cert: x509.Certificate | None, participant_id: str, origin: str, accept_unnamed: bool = False
) -> WrongPeer | None:
    """The error to raise when the server at `origin` presented `cert` and that does not name `participant_id`
    (with `accept_unnamed`, a certificate that names no participant is accepted)."""
    found = participant_id_of(cert) if cert is not None else None
    if found == participant_id or (accept_unnamed and cert is not None and found is None):
        return None
    return WrongPeer(
        "dataplane.wrong_peer", f"{origin} is served by {found or 'an unidentified party'}, not by {participant_id}"
    )


class PeerCheckingConnector(aiohttp.TCPConnector):
    """A TCP connector for one peer: every new connection must present a certificate naming `participant_id`."""

    def __init__(
        self, participant_id: str, ssl_context: ssl.SSLContext, accept_unnamed: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(ssl=ssl_context, **kwargs)
        self.participant_id = participant_id
        self.peer_certificate: x509.Certificate | None = None  # the last one a connection presented
        self.accept_unnamed = accept_unnamed

    async def connect(self, req: Any, traces: Any, timeout: Any) -> Any:
        conn = await super().connect(req, traces, timeout)
        cert = peer_certificate(conn.transport) if conn.transport is not None else None
        wrong = wrong_peer(cert, self.participant_id, str(req.url.origin()), self.accept_unnamed)
        if wrong is not None:
            conn.close()
            raise wrong
        self.peer_certificate = cert
        return conn


def peer_session(
    participant_id: str,
    ssl_context: ssl.SSLContext,
    *,
    read_bufsize: int = 4 * 1024 * 1024,
    timeout: aiohttp.ClientTimeout | None = None,
    accept_unnamed: bool = False,
) -> aiohttp.ClientSession:
    """A client session whose connections all go to `participant_id` (large read buffer for bulk data)."""
    connector = PeerCheckingConnector(participant_id, ssl_context, accept_unnamed, limit=4)
    return aiohttp.ClientSession(
        connector=connector,
        read_bufsize=read_bufsize,
        timeout=timeout or aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=120),
    )
