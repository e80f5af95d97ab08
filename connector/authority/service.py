"""The authority's publication service: status list credentials, the CRL and the signed trust list.

Routes, all below the authority's public URL, its path included (GET unless noted):

- ``/status/<n>``: status list credential ``n`` (``application/vc+jwt``), signed on demand from the ledger with a
  short validity and signed again as soon as the folder's credential ledger changes (a revocation) or half of
  the validity has passed. Verifiers cache it no longer than its validity, so a short validity bounds how long
  a revocation can go unseen even by a verifier with a generous cache policy;
- ``/crl.pem``: the current CRL, as ``connector pki`` last signed it;
- ``/trust-list.jws``: the latest trust list ``connector pki trust-list`` signed (404 before the first), and
  ``/trust-list.xml`` the latest in the form of an ETSI TS 119 612 trusted list (``--format etsi``);
- ``/ca.cert.pem``: the root certificate (the anchor nodes pin; fetching it is not trusting it);
- ``/did.json`` (``/.well-known/did.json`` for a public URL without a path): the issuer's DID document, where
  its did:web issuer id resolves, so that the ``kid`` of its credentials and status lists can be looked up by
  verifiers that resolve issuer keys (EDC); only when the issuer id is the public URL's DID;
- ``/health``;
- ``POST /tsa``: RFC 3161 time-stamps of the federation's TSA (see `connector.evidence.edge.tsa_service`);
- the issuer service: enrolment of participants' signing requests and DCP credential issuance (see
  `connector.authority.issuer`).

Everything served is signed, so the service holds no secret a reader could use; it does hold the credential
key to re-sign status lists, and the TSA key to sign time-stamps. It serves TLS with a certificate of its own
root for the public URL's host.

Nothing it publishes lapses while it runs: the CRL and the trust list are signed again once less than half of
their validity is left (`republish`, checked every `REPUBLISH_INTERVAL`), with the same validity as before, and
status lists are signed on demand with a short validity.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from cryptography import x509

from connector.authority.issuer import IssuerService
from connector.config import Listen
from connector.errors import ConnectorError
from connector.pki.authority import CREDENTIALS_FILE, Authority
from connector.pki.credentials import sign_status_list, status_list_ids
from connector.tasks import Tasks

log = logging.getLogger("connector.authority")

DEFAULT_STATUS_VALIDITY = timedelta(minutes=5)
REPUBLISH_INTERVAL = 60.0
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Signed:
    stamp: tuple[int, int]
    token: str
    signed_at: datetime


def default_listen(public_url: str) -> Listen:
    """Where to listen when not told: the public URL's port, on loopback for a localhost URL."""
    parts = urlsplit(public_url)
    host = parts.hostname or "127.0.0.1"
    return Listen("127.0.0.1" if host == "localhost" else host, parts.port or 443)


class AuthorityService:
    """One authority folder, published over HTTP(S). Start with `start`, stop with `stop` (or use `serve`)."""

    def __init__(
        self, directory: Path, status_validity: timedelta = DEFAULT_STATUS_VALIDITY, clock: Clock = _utcnow
    ) -> None:
        if status_validity <= timedelta(0):
            raise ConnectorError("authority.bad_validity", "status list validity must be positive", "--status-validity")
        self.authority = Authority(directory)
        self.status_validity = status_validity
        self.clock = clock
        self._signed: dict[str, _Signed] = {}
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self.issuer = IssuerService(self.authority, clock, self._client_tls)
        self._tasks = Tasks()

    def _client_tls(self) -> ssl.SSLContext:
        """For reaching participants (their DID documents, their credential services): their server certificates
        are this authority's."""
        return ssl.create_default_context(cafile=str(self.authority.ca_cert_path))

    # --- republishing ----------------------------------------------------------------------------------------------

    def republish(self) -> list[str]:
        """Sign the CRL and the trust list again when less than half of their validity is left; what was signed."""
        now = self.clock()
        done = []
        try:
            crl = x509.load_pem_x509_crl(self.authority.crl_path.read_bytes())
        except (OSError, ValueError):
            crl = None
        if crl is None or _half_spent(crl.last_update_utc, crl.next_update_utc, now):
            self.authority.write_crl()
            done.append("crl")
        current = self._trust_list_window()
        if current is not None and _half_spent(current[0], current[1], now):
            from connector.pki.trust_list import issue_trust_list

            days = (current[1] - current[0]).total_seconds() / 86400
            issue_trust_list(self.authority, valid_days=days, now=now)
            done.append("trust list")
        if done:
            log.info("publications signed again before they expire", extra={"signed": done})
        return done

    def _trust_list_window(self) -> tuple[datetime, datetime] | None:
        """(validFrom, validUntil) of the trust list in the folder (signed here: read without verifying)."""
        import json

        from connector.jws import read_payload_unverified
        from connector.trust.times import parse_datetime

        try:
            document = json.loads(read_payload_unverified(self.authority.trust_list_path.read_text().strip()))
            return (
                parse_datetime(document["validFrom"], "trust_list.malformed", "validFrom"),
                parse_datetime(document["validUntil"], "trust_list.malformed", "validUntil"),
            )
        except FileNotFoundError:
            return None  # none signed yet: nothing to keep alive
        except (ConnectorError, ValueError, KeyError, TypeError) as exc:
            log.error("the trust list in the folder cannot be read: %s", exc)
            return None

    async def _republish_loop(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.republish)
            except (ConnectorError, OSError) as exc:
                log.error("publications could not be signed again: %s", exc)
            await asyncio.sleep(REPUBLISH_INTERVAL)

    # --- content ---------------------------------------------------------------------------------------------

    def _ledger_stamp(self) -> tuple[int, int]:
        try:
            st = (self.authority.dir / CREDENTIALS_FILE).stat()
            return st.st_mtime_ns, st.st_size
        except FileNotFoundError:
            return -1, -1

    def status_list(self, list_id: str) -> str | None:
        """The current status list credential `list_id`, or None if the authority has no such list."""
        now, stamp = self.clock(), self._ledger_stamp()
        cached = self._signed.get(list_id)
        # A copy signed from this very ledger (same stamp) names a list that exists: the ledger is read only to sign.
        if cached is not None and cached.stamp == stamp and now - cached.signed_at < self.status_validity / 2:
            return cached.token
        if list_id not in status_list_ids(self.authority):
            return None
        token = sign_status_list(self.authority, list_id, self.status_validity, now)
        self._signed[list_id] = _Signed(stamp, token, now)
        log.info("status list signed", extra={"list": list_id, "valid_s": self.status_validity.total_seconds()})
        return token

    # --- HTTP -------------------------------------------------------------------------------------------------

    async def _status(self, request: web.Request) -> web.Response:
        token = self.status_list(request.match_info["list_id"])
        if token is None:
            return web.json_response({"code": "status.not_found", "reason": "no such status list"}, status=404)
        return web.Response(
            text=token,
            content_type="application/vc+jwt",
            headers={"Cache-Control": f"max-age={int(self.status_validity.total_seconds() // 2)}"},
        )

    async def _file(self, path: Path, content_type: str) -> web.Response:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return web.json_response(
                {"code": "authority.not_published", "reason": f"{path.name} is not published yet"}, status=404
            )
        return web.Response(body=data, content_type=content_type, headers={"Cache-Control": "no-cache"})

    async def _crl(self, request: web.Request) -> web.Response:
        return await self._file(self.authority.crl_path, "application/x-pem-file")

    async def _trust_list(self, request: web.Request) -> web.Response:
        return await self._file(self.authority.trust_list_path, "application/jose")

    async def _etsi_trust_list(self, request: web.Request) -> web.Response:
        from connector.pki.trust_list import ETSI_TRUST_LIST_FILE
        from connector.trust.etsi import TSL_MIME_TYPE

        return await self._file(self.authority.dir / ETSI_TRUST_LIST_FILE, TSL_MIME_TYPE)

    async def _ca(self, request: web.Request) -> web.Response:
        return await self._file(self.authority.ca_cert_path, "application/x-pem-file")

    async def _did(self, request: web.Request) -> web.Response:
        return web.json_response(
            self.authority.did_document(), content_type="application/did+json", headers={"Cache-Control": "no-cache"}
        )

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "authority": self.authority.name, "issuer": self.authority.issuer_id})

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes(
            [
                web.get("/status/{list_id}", self._status),
                web.get("/crl.pem", self._crl),
                web.get("/trust-list.jws", self._trust_list),
                web.get("/trust-list.xml", self._etsi_trust_list),
                web.get("/ca.cert.pem", self._ca),
                web.get("/health", self._health),
            ]
        )
        did_route = self.authority.did_document_route
        if did_route is not None:
            app.add_routes([web.get(did_route, self._did)])
        from connector.evidence.edge.tsa_service import tsa_routes

        app.add_routes(tsa_routes(self.authority.dir, self.clock))  # RFC 3161 time-stamps for the federation
        app.add_routes(self.issuer.routes())
        base = urlsplit(self.authority.public_url).path.rstrip("/")
        if not base:
            return app
        outer = web.Application()  # the public URL carries a path: everything is served below it
        outer.add_subapp(base, app)
        return outer

    def tls_context(self) -> ssl.SSLContext | None:
        """A server context for the public URL's host, or None for an http public URL."""
        parts = urlsplit(self.authority.public_url)
        if parts.scheme != "https":
            return None
        host = parts.hostname or "localhost"
        hosts = [host, "127.0.0.1"] if host == "localhost" else [host]
        cert, key = self.authority.service_identity(hosts)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert, key)
        return ctx

    async def start(self, listen: Listen | None = None) -> None:
        listen = listen or default_listen(self.authority.public_url)
        ssl_context = self.tls_context()
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, shutdown_timeout=5.0)
        await runner.setup()
        site = web.TCPSite(runner, listen.host, listen.port, ssl_context=ssl_context, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            if exc.errno == errno.EADDRINUSE:
                raise ConnectorError(
                    "listen.in_use", f"port {listen.port} on {listen.host} is already in use", "--listen"
                ) from None
            raise ConnectorError(
                "listen.failed", f"cannot listen on {listen}: {exc.strerror or exc}", "--listen"
            ) from None
        self._runner, self._site = runner, site
        self._tasks.spawn(self._republish_loop(), "authority-republish")
        self._tasks.spawn(self.issuer.run(), "authority-issuance")
        log.info(
            "authority service started",
            extra={"authority": self.authority.name, "listen": str(listen), "public_url": self.authority.public_url},
        )

    @property
    def port(self) -> int:
        sockets = getattr(self._site._server, "sockets", None) if self._site else None
        if sockets:
            return int(sockets[0].getsockname()[1])
        raise ConnectorError("authority.not_running", "the service is not listening")

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner, self._site = None, None
        await self._tasks.stop()
        await self.issuer.close()


def _half_spent(valid_from: datetime, valid_until: datetime | None, now: datetime) -> bool:
    if valid_until is None:
        return False
    return now >= valid_until - (valid_until - valid_from) / 2


async def serve(
    directory: Path, listen: Listen | None = None, status_validity: timedelta = DEFAULT_STATUS_VALIDITY
) -> None:
    """Run the service until SIGINT or SIGTERM; in-flight requests finish."""
    from connector.signals import until_stopped

    service = AuthorityService(directory, status_validity)
    await service.start(listen)
    try:
        await until_stopped()
        log.info("authority service stopping")
    finally:
        await service.stop()
