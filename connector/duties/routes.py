"""The duty endpoints: two beside DSP on the protocol listener (authenticated exactly like DSP requests), and the
management API's view of duties.

Protocol listener, below the DSP base URL (``/dsp/2025-1``):

- ``POST .../duties/receipts`` ``{"receipt": JWS}`` - provider side: a consumer hands over a receipt it signed
  (a notice of use, or a deletion). Answered 200 ``{"recorded": true|false}`` (false: already known), 400 with
  ``{"code", "reason"}`` when the receipt does not verify or is about no agreement and transfer of the caller.
- ``GET .../duties/agreements/{id}/receipts`` - consumer side: the agreement's provider asks for every receipt the
  consumer issued under it. Answered 200 ``{"agreementId", "receipts": [JWS, ...]}``, or 404 to anyone else.

A caller that is not verified is answered 401 (503 with Retry-After when its verification could not be completed
now), with the failed check's code.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from connector.config import LimitsSection
from connector.dsp.versions import DSP_BASE_PATH
from connector.duties.service import RECEIPTS_PATH, DutyService
from connector.errors import ConnectorError, Problem
from connector.store.sql import duties as sql
from connector.trust.claims import VerifiedClaims
from connector.web import inputs
from connector.web.bodies import read_json
from connector.web.openapi import ID, PAGING, ApiSection, RouteGroup, ok, page_of, problems

log = logging.getLogger("connector.duties")

Authenticate = Callable[[web.Request], Awaitable[VerifiedClaims]]


def _refused(status: int, problem: Problem) -> web.Response:
    response = web.json_response({"code": problem.code, "reason": problem.reason}, status=status)
    if problem.code.endswith((".unavailable", ".busy")):
        response.headers["Retry-After"] = "1"
    return response


class DutyProtocolRoutes:
    def __init__(self, service: DutyService, authenticate: Authenticate, limits: LimitsSection) -> None:
        self.service = service
        self.authenticate = authenticate
        self.limits = limits

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(DSP_BASE_PATH + RECEIPTS_PATH, self.receive),
            web.get(DSP_BASE_PATH + "/duties/agreements/{id}/receipts", self.receipts),
        ]

    async def _caller(self, request: web.Request) -> str | web.Response:
        try:
            claims = await self.authenticate(request)
        except ConnectorError as exc:
            log.warning("peer refused: %s", exc.reason, extra={"code": exc.code, "path": request.path})
            transient = exc.code.endswith((".unavailable", ".busy"))
            return _refused(503 if transient else 401, exc.problem)
        return claims.participant_id

    async def receive(self, request: web.Request) -> web.Response:
        caller = await self._caller(request)
        if isinstance(caller, web.Response):
            return caller
        try:
            body = await read_json(request, self.limits.max_message_bytes, self.limits.body_timeout)
            if not isinstance(body, dict):
                raise ConnectorError("duty.receipt_invalid", 'the body must be {"receipt": JWS}')
            recorded = await self.service.accept(caller, body.get("receipt"))
        except ConnectorError as exc:
            return _refused(400, exc.problem)
        return web.json_response({"recorded": recorded})

    async def receipts(self, request: web.Request) -> web.Response:
        caller = await self._caller(request)
        if isinstance(caller, web.Response):
            return caller
        agreement_id = request.match_info["id"]
        try:
            found = await self.service.issued_for(caller, agreement_id)
        except ConnectorError as exc:
            return _refused(404, exc.problem)
        return web.json_response({"agreementId": agreement_id, "receipts": found})


SCHEMAS: dict[str, Any] = {
    "ReceivedData": {
        "type": "object",
        "description": "Data this node received as consumer, the duties its agreement imposes, and their state",
        "properties": {
            "transferId": {"type": "string"},
            "agreementId": {"type": "string"},
            "providerId": {"type": "string"},
            "datasetId": {"type": "string"},
            "file": {"type": ["string", "null"], "description": "Where the data was written"},
            "sha256": {"type": "string"},
            "size": {"type": "integer"},
            "receivedAt": {"type": "string"},
            "duties": {"type": "object"},
            "noOnwardTransfer": {"type": "boolean"},
            "deleteDueAt": {"type": ["string", "null"]},
            "deletedAt": {"type": ["string", "null"]},
            "deletion": {"type": ["string", "null"], "enum": ["deleted", "absent", None]},
        },
    },
    "AgreementDuties": {
        "type": "object",
        "description": "An agreement's usage duties and what this node knows of their fulfilment",
        "properties": {
            "agreementId": {"type": "string"},
            "role": {"type": "string", "enum": ["provider", "consumer"]},
            "duties": {"type": "object"},
            "received": {"type": "array", "items": {"$ref": "#/components/schemas/ReceivedData"}},
            "receipts": {
                "type": "array",
                "items": {
                    "type": "object",
                    "description": "A fulfilment receipt (issued by this node as consumer, or received as provider)",
                },
            },
            "fetched": {"type": "object", "description": "POST: what the consumer answered"},
        },
    },
}

PATHS: dict[str, Any] = {
    "/v1/received": {
        "get": {
            "tags": ["duties"],
            "operationId": "listReceivedData",
            "summary": "List the data received as consumer, with its duties",
            "description": "The deletion due and made, and whether it may be offered onward.",
            "parameters": [*PAGING, {"name": "agreementId", "in": "query", "schema": {"type": "string"}}],
            "responses": {**ok(page_of("ReceivedData")), **problems("400")},
        }
    },
    "/v1/agreements/{id}/duties": {
        "get": {
            "tags": ["duties"],
            "operationId": "getAgreementDuties",
            "summary": "Get an agreement's usage duties, the data received under it and the receipts known here",
            "parameters": ID,
            "responses": {**ok("AgreementDuties"), **problems("404")},
        },
        "post": {
            "tags": ["duties"],
            "operationId": "fetchAgreementReceipts",
            "summary": "Ask the consumer for the agreement's receipts (as provider); those that verify are recorded",
            "parameters": ID,
            "responses": {**ok("AgreementDuties"), **problems("404", "502", "503")},
        },
    },
}


class DutyManagementRoutes:
    def __init__(self, service: DutyService) -> None:
        self.service = service

    def group(self) -> RouteGroup:
        return RouteGroup(
            [
                web.get("/v1/received", self.list_received),
                web.get("/v1/agreements/{id}/duties", self.agreement),
                web.post("/v1/agreements/{id}/duties", self.fetch),
            ],
            ApiSection(PATHS, SCHEMAS),
        )

    async def list_received(self, request: web.Request) -> web.Response:
        p = inputs.page(request)
        items, total = await self.service.store.read(
            sql.list_received, p.limit, p.offset, request.query.get("agreementId")
        )
        return p.response(request, [r.to_api() for r in items], total)

    async def agreement(self, request: web.Request) -> web.Response:
        return web.json_response(await self.service.agreement_view(request.match_info["id"]))

    async def fetch(self, request: web.Request) -> web.Response:
        agreement_id = request.match_info["id"]
        fetched = await self.service.fetch(agreement_id)
        return web.json_response({**await self.service.agreement_view(agreement_id), "fetched": fetched})
