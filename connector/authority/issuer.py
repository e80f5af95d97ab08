"""The authority's issuer service: enrolment (certificates from signing requests) and DCP credential issuance.

Routes, below the authority's public URL (the issuer service's base URL):

- ``POST /enrolment``: a participant's certificate signing requests (``{"csrs": [tls, signing]}`` in PEM), as
  `connector pki enrol` sends them. 201 with the certificates when granted at once (an onboarded participant),
  otherwise 202 with the request's id and ``Location``; ``GET /enrolment/<id>`` answers its status, with the
  certificates once the operator approved it (`connector pki approve`). A request proves possession of its keys;
  whom the authority certifies is the operator's decision (onboarding, approval), never the requester's.
- ``GET /metadata``: the DCP `IssuerMetadata` (the membership and organisation credentials it issues).
- ``POST /credentials``: a DCP `CredentialRequestMessage` with the holder's self-issued ID token. The token must
  be signed by the key of the holder's DID document, and that key certified by this authority (a signing
  certificate of its own, not revoked): the holder proves control of its DID, and the DID is one this authority
  enrolled. 201 with ``Location: <base>/requests/<id>``.
- ``GET /requests/<id>``: the request's `CredentialStatus`, to the holder that made it (its ID token again).
- ``GET /credential-schemas/<type>.json``: the JSON Schema of each credential's subject.

Approved requests are issued and delivered by `IssuerService.run`: a `CredentialMessage` sent to the Storage API
of the holder's credential service (from its DID document), with an ID token of the issuer carrying the holder's
storage grant; retried with back-off while the holder cannot be reached. A rejection is delivered the same way.
Approvals made from the command line (another process) are picked up within `POLL_INTERVAL`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web

from connector import jsontext
from connector.errors import ConnectorError
from connector.pki import onboarding
from connector.pki.authority import Authority
from connector.pki.credentials import KINDS
from connector.trust import issuance
from connector.trust.did import DidDocument, parse_did, parse_did_document, verify_key_certificate
from connector.trust.tokens import MemoryReplayCache, issue_id_token, remember_id_token

log = logging.getLogger("connector.authority")

Clock = Callable[[], datetime]
POLL_INTERVAL = 1.0
RETRY_FIRST, RETRY_MAX = 1.0, 60.0
MAX_BODY = 256 * 1024
MAX_DOCUMENT = 256 * 1024
ENROLMENT_PATH = "/enrolment"
SCHEMAS_PATH = "/credential-schemas/"
_SUBJECTS = {
    "MembershipCredential": {
        "required": ["id", "memberOf", "memberSince"],
        "properties": {"id": {"type": "string"}, "memberOf": {"type": "string"}, "memberSince": {"type": "string"}},
    },
    "OrganizationCredential": {
        "required": ["id", "legalName", "countryOfEstablishment"],
        "properties": {
            "id": {"type": "string"},
            "legalName": {"type": "string"},
            "countryOfEstablishment": {"type": "string", "pattern": "^[A-Z]{2}$"},
        },
    },
}


def _error(status: int, code: str, reason: str, **headers: str) -> web.Response:
    return web.json_response({"code": code, "reason": reason}, status=status, headers=headers or None)


@dataclass
class _Attempt:
    count: int = 0
    due: float = 0.0


class IssuerService:
    """Enrolment and credential issuance for one authority folder."""

    def __init__(self, authority: Authority, clock: Clock, client_tls: Callable[[], ssl.SSLContext]) -> None:
        self.authority = authority
        self.clock = clock
        self._client_tls = client_tls
        self._session: aiohttp.ClientSession | None = None
        self._replay = MemoryReplayCache()
        self._wake = asyncio.Event()
        self._attempts: dict[str, _Attempt] = {}
        self.leeway = timedelta(seconds=30)

    # --- what is issued ---------------------------------------------------------------------------------------

    def metadata(self) -> issuance.IssuerMetadata:
        base = self.authority.public_url
        return issuance.IssuerMetadata(
            self.authority.issuer_id,
            tuple(
                issuance.CredentialObject(
                    f"{self.authority.issuer_id}#{credential_type}",
                    credential_type,
                    f"{base}{SCHEMAS_PATH}{credential_type}.json",
                )
                for credential_type in sorted(KINDS.values())
            ),
        )

    # --- HTTP ---------------------------------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(ENROLMENT_PATH, self._enrol),
            web.get(ENROLMENT_PATH + "/{request_id}", self._enrolment),
            web.get(issuance.METADATA_PATH, self._metadata),
            web.post(issuance.CREDENTIALS_PATH, self._request_credentials),
            web.get(issuance.REQUESTS_PATH + "{request_id}", self._request_status),
            web.get(SCHEMAS_PATH + "{name}", self._schema),
        ]

    async def _body(self, request: web.Request) -> bytes | web.Response:
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _error(413, "request.too_large", f"the body is larger than {MAX_BODY} bytes")
        data = await request.content.read(MAX_BODY + 1)
        if len(data) > MAX_BODY:
            return _error(413, "request.too_large", f"the body is larger than {MAX_BODY} bytes")
        return data

    async def _enrol(self, request: web.Request) -> web.Response:
        data = await self._body(request)
        if isinstance(data, web.Response):
            return data
        try:
            body = jsontext.loads(data)
            csrs = body.get("csrs") if isinstance(body, dict) else None
            if not isinstance(csrs, list) or not all(isinstance(c, str) for c in csrs):
                raise ConnectorError("request.invalid", 'the body is {"csrs": [<PEM>, <PEM>]}', "csrs")
            entry = await asyncio.to_thread(onboarding.submit_certificates, self.authority, csrs)
        except ValueError:
            return _error(400, "request.invalid", "the body is not JSON")
        except ConnectorError as exc:
            return _error(400, exc.code, exc.reason)
        answer = _enrolment_json(entry)
        location = f"{self.authority.public_url}{ENROLMENT_PATH}/{entry['id']}"
        log.info(
            "certificates requested",
            extra={"participant": entry["participant_id"], "request": entry["id"], "status": entry["status"]},
        )
        return web.json_response(
            answer, status=201 if entry["status"] == onboarding.ISSUED else 202, headers={"Location": location}
        )

    async def _enrolment(self, request: web.Request) -> web.Response:
        try:
            entry = onboarding.request(self.authority, request.match_info["request_id"])
        except ConnectorError as exc:
            return _error(404, exc.code, exc.reason)
        if entry["kind"] != onboarding.CERTIFICATES:
            return _error(404, "pki.unknown_request", "no such enrolment")
        return web.json_response(_enrolment_json(entry))

    async def _metadata(self, request: web.Request) -> web.Response:
        return web.json_response(self.metadata().to_json())

    async def _schema(self, request: web.Request) -> web.Response:
        name = request.match_info["name"].removesuffix(".json")
        subject = _SUBJECTS.get(name)
        if subject is None:
            return _error(404, "issuance.unknown_schema", "no such credential schema")
        return web.json_response(
            {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "title": f"{name} subject",
                "type": "object",
                **subject,
            }
        )

    async def _holder(self, request: web.Request) -> tuple[str, str] | web.Response:
        """(holder DID, token jti) of a verified ID token addressed to this issuer, or the refusal."""
        now = self.clock()
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _error(401, "token.missing", "a self-issued ID token is required (Authorization: Bearer)")
        try:
            unverified = issuance.read_request_token(token.strip(), self.authority.issuer_id, now, self.leeway)
        except ConnectorError as exc:
            return _error(401, exc.code, exc.reason)
        try:
            document = await self._resolve(unverified.issuer)
        except ConnectorError as exc:
            if exc.code == "issuance.not_enrolled":
                return _error(401, exc.code, exc.reason)
            return _error(503, exc.code, exc.reason, **{"Retry-After": "5"})
        try:
            facts = issuance.check_request_token(unverified, document)
            signing_cert = verify_key_certificate(document, facts.kid, [self.authority.ca_cert()], now)
            if any(e["serial"] == str(signing_cert.serial_number) and e["revoked"] for e in self.authority.ledger()):
                raise ConnectorError("certificate.revoked", "the holder's signing certificate has been revoked")
            remember_id_token(self._replay, facts, now, self.leeway)
        except ConnectorError as exc:
            log.warning("issuance request refused", extra={"holder": unverified.issuer, "code": exc.code})
            return _error(401, exc.code, exc.reason)
        return facts.issuer, facts.access_token or ""

    async def _request_credentials(self, request: web.Request) -> web.Response:
        holder = await self._holder(request)
        if isinstance(holder, web.Response):
            return holder
        did, grant = holder
        data = await self._body(request)
        if isinstance(data, web.Response):
            return data
        try:
            message = issuance.parse_credential_request(data)
            offered = {o.id: o.credential_type for o in self.metadata().credentials}
            unknown = [i for i in message.credential_ids if i not in offered]
            if unknown:
                raise ConnectorError(
                    "issuance.unknown_credential",
                    f"this issuer offers no credential {unknown[0][:100]!r}",
                    "credentials",
                )
        except ConnectorError as exc:
            return _error(400, exc.code, exc.reason)
        types = [offered[i] for i in message.credential_ids]
        entry = await asyncio.to_thread(
            onboarding.submit_credentials, self.authority, did, message.holder_pid, types, grant or None
        )
        log.info(
            "credentials requested",
            extra={"holder": did, "request": entry["id"], "types": types, "status": entry["status"]},
        )
        self._wake.set()
        status = issuance.CredentialStatus(entry["id"], message.holder_pid, issuance.RECEIVED)
        return web.json_response(
            status.to_json(),
            status=201,
            headers={"Location": f"{self.authority.public_url}{issuance.REQUESTS_PATH}{entry['id']}"},
        )

    async def _request_status(self, request: web.Request) -> web.Response:
        holder = await self._holder(request)
        if isinstance(holder, web.Response):
            return holder
        try:
            entry = onboarding.request(self.authority, request.match_info["request_id"])
        except ConnectorError:
            entry = None
        # Only the holder that made a request learns of it (anyone else: as if there were none).
        if entry is None or entry["kind"] != onboarding.CREDENTIALS or entry["participant_id"] != holder[0]:
            return _error(404, "pki.unknown_request", "no such credential request")
        status = {onboarding.ISSUED: issuance.ISSUED, onboarding.REJECTED: issuance.REJECTED}.get(
            entry["status"], issuance.RECEIVED
        )
        return web.json_response(issuance.CredentialStatus(entry["id"], entry["holder_pid"], status).to_json())

    # --- outgoing ---------------------------------------------------------------------------------------------------

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._client_tls()),
                timeout=aiohttp.ClientTimeout(total=10),
            )
        return self._session

    async def _resolve(self, did: str) -> DidDocument:
        """A holder's DID document, fetched over HTTPS (its server certificate is one this authority issued)."""
        try:
            url = parse_did(did).url
            async with self._client().get(url, allow_redirects=False) as resp:
                data = await resp.content.read(MAX_DOCUMENT + 1)
                if resp.status != 200 or len(data) > MAX_DOCUMENT:
                    raise ConnectorError("did.unavailable", f"{url} answered HTTP {resp.status}")
        except aiohttp.ClientConnectorCertificateError:
            raise ConnectorError(
                "issuance.not_enrolled", f"the host of {did} presents no certificate this authority issued"
            ) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise ConnectorError("did.unavailable", f"the DID document of {did} could not be fetched: {exc}") from None
        return parse_did_document(data, did)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # --- issuing and delivering -----------------------------------------------------------------------------------

    async def run(self) -> None:
        """Issue approved requests and deliver what was issued or rejected, until cancelled."""
        seen = (-2, -2)
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), POLL_INTERVAL)
            except TimeoutError:
                pass
            self._wake.clear()
            if onboarding.stamp(self.authority) == seen and not self._attempts:
                continue
            seen = onboarding.stamp(self.authority)
            try:
                await self.work()
            except (ConnectorError, OSError) as exc:
                log.error("issuance round failed: %s", exc)

    async def work(self) -> int:
        """One round: issue what was approved, deliver what is due; returns how many deliveries succeeded."""
        for entry in onboarding.requests(self.authority, onboarding.APPROVED):
            if entry["kind"] == onboarding.CREDENTIALS:
                done = await asyncio.to_thread(onboarding.issue_credentials, self.authority, entry["id"])
                log.info(
                    "credentials issued" if done["status"] == onboarding.ISSUED else "credential request rejected",
                    extra={"holder": done["participant_id"], "request": done["id"], "reason": done.get("reason")},
                )
        delivered = 0
        now = time.monotonic()
        for entry in onboarding.requests(self.authority):
            if (
                entry["kind"] != onboarding.CREDENTIALS
                or entry["status"] not in (onboarding.ISSUED, onboarding.REJECTED)
                or entry.get("delivered")
            ):
                continue
            attempt = self._attempts.setdefault(entry["id"], _Attempt())
            if now < attempt.due:
                continue
            try:
                await self.deliver(entry)
            except ConnectorError as exc:
                attempt.count += 1
                delay = min(RETRY_MAX, RETRY_FIRST * 2 ** (attempt.count - 1))
                attempt.due = now + random.uniform(delay / 2, delay)
                log.warning(
                    "credentials not delivered; trying again",
                    extra={
                        "holder": entry["participant_id"],
                        "request": entry["id"],
                        "reason": exc.reason,
                        "attempt": attempt.count,
                    },
                )
                continue
            self._attempts.pop(entry["id"], None)
            await asyncio.to_thread(onboarding.update, self.authority, entry["id"], delivered=self.clock().isoformat())
            delivered += 1
        return delivered

    async def deliver(self, entry: dict[str, Any]) -> None:
        """Send the CredentialMessage of a settled request to the holder's Storage API."""
        holder = entry["participant_id"]
        document = await self._resolve(holder)
        url = document.credential_service_url.rstrip("/") + issuance.CREDENTIALS_PATH
        if entry["status"] == onboarding.ISSUED:
            message = issuance.CredentialMessage(
                entry["id"],
                entry["holder_pid"],
                issuance.ISSUED,
                tuple(
                    issuance.CredentialContainer(c["credentialType"], c["payload"])
                    for c in entry.get("issued_credentials", [])
                ),
            )
        else:
            message = issuance.CredentialMessage(
                entry["id"], entry["holder_pid"], issuance.REJECTED, rejection_reason=entry.get("reason")
            )
        token = issue_id_token(
            self.authority.credential_key(),
            self.authority.credential_kid,
            self.authority.issuer_id,
            holder,
            entry.get("storage_grant"),
            self.clock(),
        )
        try:
            async with self._client().post(
                url,
                json=message.to_json(),
                headers={"Authorization": f"Bearer {token}"},
                allow_redirects=False,
            ) as resp:
                text = (await resp.content.read(4096)).decode("utf-8", "replace")
                if resp.status // 100 != 2:
                    raise ConnectorError("issuance.not_delivered", f"{url} answered HTTP {resp.status}: {text[:300]}")
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise ConnectorError("issuance.not_delivered", f"cannot reach {url}: {exc}") from None
        log.info(
            "credentials delivered" if message.status == issuance.ISSUED else "rejection delivered",
            extra={"holder": holder, "request": entry["id"], "credentials": len(message.credentials)},
        )


def _enrolment_json(entry: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = {"id": entry["id"], "participantId": entry["participant_id"], "status": entry["status"]}
    if entry.get("certificates"):
        body["certificates"] = entry["certificates"]
    if entry.get("reason"):
        body["reason"] = entry["reason"]
    return body
