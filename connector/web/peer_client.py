"""Talking to peers: one pooled mutual-TLS session, the peer's identity checked on every response.

The URL a message goes to comes from the other side (a callback address, a catalogue entry), so it is not
trusted by itself: the server must present a certificate from a recognised authority that names the participant
we mean to talk to. Anything else is refused before its answer is read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from connector import jsontext
from connector.errors import ConnectorError
from connector.log import request_id
from connector.pki.certificates import participant_id_of
from connector.telemetry import NO_TRACER, Tracer
from connector.web.outgoing import EXPECTED_PEER, OutgoingHttp

# The Authorization header to send to a participant (a DCP self-issued token), or None.
Authorization = Callable[[str], Awaitable[str | None]]

log = logging.getLogger("connector.peers")


class PeerUnavailable(ConnectorError):
    """A failure worth retrying: the peer could not be reached or answered 5xx."""


@dataclass(frozen=True)
class PeerResponse:
    status: int
    body: Any  # decoded JSON, or None
    text: str
    headers: Mapping[str, str]
    server_id: str | None = None  # the participant id in the server's certificate (None without TLS)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def error_reason(self) -> str:
        """What the peer said when it refused (its DSP error reason, or the start of its body)."""
        if isinstance(self.body, dict):
            reason = self.body.get("reason") or self.body.get("detail")
            code = self.body.get("code")
            if isinstance(reason, list):
                reason = "; ".join(str(r) for r in reason)
            if reason:
                return f"{reason} ({code})" if code else str(reason)
        return self.text[:200] or f"HTTP {self.status}"


# TLS alerts and verification failures that say "this certificate is not accepted", by the peer or by us.
_CERTIFICATE_ALERTS = {
    "CERTIFICATE_REVOKED": "the peer refused our TLS certificate: it has been revoked",
    "UNKNOWN_CA": "the peer does not recognise the authority that issued our TLS certificate",
    "BAD_CERTIFICATE": "the peer refused our TLS certificate",
    "CERTIFICATE_EXPIRED": "the peer refused our TLS certificate: it has expired",
    "CERTIFICATE_UNKNOWN": "the peer refused our TLS certificate",
    "CERTIFICATE_REQUIRED": "the peer requires a client certificate",
    "ACCESS_DENIED": "the peer denied access at the TLS handshake",
}


def certificate_refusal(exc: BaseException) -> str | None:
    """A human reason if `exc` is a certificate refusal (by the peer's alert or our own verification)."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return f"the peer's certificate is not accepted: {exc.certificate_error}"
    text = str(exc).upper()
    for alert, reason in _CERTIFICATE_ALERTS.items():
        if alert in text:
            return reason
    cause = exc.__cause__ or exc.__context__
    return certificate_refusal(cause) if cause is not None and cause is not exc else None


def plain_http_answer(exc: BaseException) -> bool:
    """Whether the server answered our TLS handshake with something else than TLS: a plain-HTTP listener (such as
    a node's management API), whose `HTTP/1.1 400` OpenSSL reads as a record of an unknown version."""
    if "WRONG_VERSION_NUMBER" in str(exc).upper():
        return True
    cause = exc.__cause__ or exc.__context__
    return plain_http_answer(cause) if cause is not None and cause is not exc else False


class PeerClient:
    """Requests to peers: https only (unless `allow_http`, the plain-HTTP conformance profile), no redirects, and
    a request for a known participant leaves only on a connection to that participant (OutgoingHttp)."""

    def __init__(
        self,
        http: OutgoingHttp,
        authorization: Authorization | None = None,
        allow_http: bool = False,
        tracer: Tracer = NO_TRACER,
    ) -> None:
        self.http = http
        self.authorization = authorization
        self.allow_http = allow_http
        self.tracer = tracer  # a client span per request, its W3C trace context sent along

    @staticmethod
    def _server_id(resp: aiohttp.ClientResponse, url: str) -> str | None:
        cert = getattr(resp, "peer_cert", None) if url.startswith("https:") else None
        return participant_id_of(cert) if cert is not None else None

    async def request(
        self,
        method: str,
        url: str,
        body: Any = None,
        expected_peer: str | None = None,
        timeout: float = 30.0,
        headers: Mapping[str, str] | None = None,
        body_json: str | None = None,
    ) -> PeerResponse:
        """`body` goes as JSON, written here; or as `body_json` when it is already written (a queued message)."""
        if not url.startswith("https://") and not (self.allow_http and url.startswith("http://")):
            raise ConnectorError(
                "peer.insecure_url", f"{url[:200]} is not an https URL; peers are reached over TLS only"
            )
        session = self.http.session()
        all_headers = {"Content-Type": "application/json", "Accept": "application/json"}
        rid = request_id.get()
        if rid:
            all_headers["X-Request-Id"] = rid
        if expected_peer is not None and self.authorization is not None:
            token = await self.authorization(expected_peer)
            if token:
                all_headers["Authorization"] = token
        all_headers.update(headers or {})
        data = body_json if body_json is not None else None if body is None else json.dumps(body)
        attributes = {"http.request.method": method, "url.full": url, "connector.peer": expected_peer or ""}
        with self.tracer.span(method, kind="client", attributes=attributes) as span:
            self.tracer.inject(all_headers)
            expecting = EXPECTED_PEER.set(expected_peer)
            try:
                async with session.request(
                    method,
                    url,
                    data=data,
                    headers=all_headers,
                    timeout=aiohttp.ClientTimeout(total=timeout),
                    allow_redirects=False,
                ) as resp:
                    server_id = self._server_id(resp, url)
                    text = await resp.text()
                    status = resp.status
                    resp_headers = dict(resp.headers)
            except ConnectorError as exc:
                span.failed(exc.code)
                raise
            except aiohttp.ClientResponseError as exc:
                span.failed("peer.unreachable")
                raise PeerUnavailable("peer.unreachable", f"{url}: {exc.status} {exc.message}") from None
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                refusal = certificate_refusal(exc)
                log.debug("peer request failed", extra={"url": url, "error": repr(exc), "refusal": refusal})
                if refusal is not None:  # not transient: retrying would only hide the reason
                    span.failed("peer.tls_refused")
                    raise ConnectorError("peer.tls_refused", f"{url}: {refusal}") from None
                if plain_http_answer(exc):  # an address mistaken for a peer's: no DSP endpoint answers there
                    span.failed("peer.not_tls")
                    origin = str(URL(url).origin())
                    raise PeerUnavailable(
                        "peer.not_tls",
                        f"{origin} answered, but not over TLS: it is not a DSP endpoint (a management API or another "
                        "plain-HTTP port?)",
                    ) from None
                span.failed("peer.unreachable")
                if isinstance(exc, TimeoutError):  # connected or not, nothing came back in time: a peer that hangs
                    raise PeerUnavailable(
                        "peer.unreachable", f"{url} did not answer within {round(timeout, 1):g} s"
                    ) from None
                reason = str(exc) or type(exc).__name__
                raise PeerUnavailable("peer.unreachable", f"cannot reach {url}: {reason}") from None
            finally:
                EXPECTED_PEER.reset(expecting)
            span.set("http.response.status_code", status)
            if status >= 400:
                span.failed(f"HTTP {status}")
        try:
            decoded = jsontext.loads(text) if text.strip() else None
        except ValueError:
            decoded = None
        if status >= 500:
            raise PeerUnavailable("peer.unavailable", f"{url} answered {status}: {text[:200]}")
        return PeerResponse(status, decoded, text, resp_headers, server_id)

    async def post(self, url: str, body: Any = None, expected_peer: str | None = None, **kw: Any) -> PeerResponse:
        return await self.request("POST", url, body, expected_peer, **kw)

    async def get(self, url: str, expected_peer: str | None = None, **kw: Any) -> PeerResponse:
        return await self.request("GET", url, None, expected_peer, **kw)
