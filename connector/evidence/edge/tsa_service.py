"""A federation authority acting as RFC 3161 time-stamp authority (for the demo and small federations).

`tsa_routes(authority_dir)` gives the route the authority's service mounts: ``POST /tsa`` takes an
``application/timestamp-query`` and answers an ``application/timestamp-reply``. The TSA signs with its own key
and a certificate the authority's root issues on first use (extended key usage timeStamping only, as RFC 3161
requires), kept in the authority folder beside the CA as ``tsa.key.pem`` / ``tsa.cert.pem`` and renewed when it
comes close to expiry. Serial numbers come from a counter in ``tsa-serial.json`` advanced under the folder lock
and written durably before the token is returned, so no two tokens of this TSA ever share a serial, across
restarts and concurrent processes alike.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web
from cryptography import x509

from connector import keys
from connector.evidence.timestamp import CONTENT_TYPE_QUERY, CONTENT_TYPE_REPLY, respond
from connector.keys import PrivateKey
from connector.pki.authority import Authority
from connector.pki.tsa import RENEW_BEFORE, TSA_CERT_FILE, TSA_KEY_FILE, tsa_identity

__all__ = ["POLICY_OID", "TSA_CERT_FILE", "TSA_KEY_FILE", "TSA_PATH", "TimeStampAuthority", "tsa_routes"]

log = logging.getLogger("connector.authority.tsa")

TSA_PATH = "/tsa"
SERIAL_FILE = "tsa-serial.json"
# The policy under which this TSA issues tokens: an OID from the UUID arc (ITU-T X.667), so none is borrowed.
POLICY_OID = "2.25.35289772558532908196082464425292313010"
MAX_REQUEST_BYTES = 16 * 1024

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TimeStampAuthority:
    """The TSA of one authority folder: its key, its certificate and its serial counter."""

    def __init__(self, directory: Path, clock: Clock = _utcnow) -> None:
        self.authority = Authority(directory)
        self.clock = clock
        self._key: PrivateKey | None = None
        self._cert: x509.Certificate | None = None

    @property
    def cert_path(self) -> Path:
        return self.authority.dir / TSA_CERT_FILE

    def identity(self) -> tuple[PrivateKey, x509.Certificate, x509.Certificate]:
        """(TSA key, TSA certificate, CA certificate), issuing the certificate when absent or about to expire."""
        now = self.clock()
        if self._cert is None or self._key is None or self._cert.not_valid_after_utc - now <= RENEW_BEFORE:
            self._key, self._cert = tsa_identity(self.authority, now)
        return self._key, self._cert, self.authority.ca_cert()

    def next_serial(self) -> int:
        """The next serial, durably counted before it is used."""
        path = self.authority.dir / SERIAL_FILE
        with self.authority.locked():
            try:
                current = int(json.loads(path.read_text())["last"])
            except FileNotFoundError:
                current = 0
            serial = current + 1
            keys.write_public_file(path, (json.dumps({"last": serial}) + "\n").encode())
        return serial

    def answer(self, request_der: bytes) -> bytes:
        """A DER TimeStampResp for a DER TimeStampReq (blocking: file lock and fsync)."""
        key, cert, ca_cert = self.identity()
        return respond(request_der, key, cert, [ca_cert], self.next_serial(), self.clock(), POLICY_OID)


def tsa_routes(authority_dir: Path, clock: Clock = _utcnow) -> list[web.RouteDef]:
    """The time-stamp route for an authority's service (its folder holds the CA the TSA certificate comes from)."""
    tsa = TimeStampAuthority(authority_dir, clock)

    async def stamp(request: web.Request) -> web.Response:
        if request.content_type != CONTENT_TYPE_QUERY:
            return web.Response(status=415, text=f"send {CONTENT_TYPE_QUERY}")
        if request.content_length is not None and request.content_length > MAX_REQUEST_BYTES:
            return web.Response(status=413, text="time-stamp request too large")
        body = await request.content.read(MAX_REQUEST_BYTES + 1)
        if len(body) > MAX_REQUEST_BYTES:
            return web.Response(status=413, text="time-stamp request too large")
        reply = await asyncio.get_running_loop().run_in_executor(None, tsa.answer, body)
        return web.Response(body=reply, content_type=CONTENT_TYPE_REPLY)

    async def certificate(request: web.Request) -> web.Response:
        _, cert, _ = await asyncio.get_running_loop().run_in_executor(None, tsa.identity)
        return web.Response(body=keys.cert_pem(cert), content_type="application/x-pem-file")

    return [web.post(TSA_PATH, stamp), web.get(TSA_PATH + "/cert.pem", certificate)]
