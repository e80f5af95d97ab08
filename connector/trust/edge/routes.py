"""The trust edge's routes: the DID document and credential service on the protocol listener, and what an
operator reads on the management API (verification records, trust lists in force, the node's credentials)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from connector.errors import ConnectorError
from connector.participant import did_web_document_path
from connector.store.sql import trust as repo
from connector.trust.edge.holder import CREDENTIAL_SERVICE_PATH, Holder, document_bytes
from connector.trust.edge.issuance import CredentialIssuance
from connector.trust.edge.service import TrustService
from connector.trust.vocab import CREDENTIALS_PATH, PRESENTATIONS_QUERY_PATH
from connector.web import inputs, openapi
from connector.web.middleware import open_route

OUTCOMES = ("verified", "refused")


def protocol_routes(holder: Holder, issuance: CredentialIssuance | None = None) -> list[web.RouteDef]:

    @open_route
    async def did_document(request: web.Request) -> web.Response:
        return web.Response(
            body=document_bytes(holder.document_json()),
            content_type="application/did+json",
            headers={"Cache-Control": "max-age=60"},
        )

    async def presentation_query(request: web.Request) -> web.Response:
        return await holder.presentation_query(request)

    routes = [
        web.get(did_web_document_path(holder.did), did_document),
        web.post(CREDENTIAL_SERVICE_PATH + PRESENTATIONS_QUERY_PATH, presentation_query),
    ]
    if issuance is not None:

        @open_route  # an issuer presents no certificate: its ID token and this node's storage grant authenticate it
        async def store_credentials(request: web.Request) -> web.Response:
            return await issuance.store_credentials(request)

        routes.append(web.post(CREDENTIAL_SERVICE_PATH + CREDENTIALS_PATH, store_credentials))
    return routes


def management_routes(trust: TrustService) -> openapi.RouteGroup:
    async def verifications(request: web.Request) -> web.Response:
        page = inputs.page(request)
        outcome = request.query.get("outcome")
        if outcome is not None and outcome not in OUTCOMES:
            raise ConnectorError("request.invalid", "'outcome' must be verified or refused", "outcome")
        await trust.records.flush()  # what was verified before this request is listed
        items, total = await trust.store.read(
            repo.list_verifications,
            page.limit,
            page.offset,
            outcome,
            request.query.get("peer"),
            request.query.get("code"),
        )
        return page.response(request, [r.to_api() for r in items], total)

    async def trust_lists(request: web.Request) -> web.Response:
        now = trust.clock()
        items = [s.to_api(now) for s in trust.keeper.states]
        return web.json_response({"items": items, "total": len(items), "verifying": trust.verifying})

    async def recognitions(request: web.Request) -> web.Response:
        if trust.authenticator is None:
            return web.json_response({"own": [], "items": [], "problems": []})
        return web.json_response(trust.authenticator.recognitions.to_api(trust.keeper.trust_store(), trust.clock()))

    async def credentials(request: web.Request) -> web.Response:
        items = [c.to_api() for c in trust.holder.credentials] if trust.holder is not None else []
        return web.json_response({"items": items, "total": len(items)})

    def issuing() -> CredentialIssuance:
        if trust.issuance is None:
            raise ConnectorError(
                "issuance.unavailable", "this node holds no credentials (plain HTTP or the TCK profile)"
            )
        return trust.issuance

    async def request_credentials(request: web.Request) -> web.Response:
        body = await inputs.body_object(request)
        inputs.unknown_keys(body, ("issuer", "types"))
        issuer = inputs.string(body, "issuer")
        types = inputs.string_list(body, "types")
        if not types:
            raise ConnectorError("request.missing", "'types' lists the credential types to ask for", "types")
        assert issuer is not None
        record = await issuing().request(issuer, list(types))
        return web.json_response(record.to_api(), status=201)

    async def credential_requests(request: web.Request) -> web.Response:
        page = inputs.page(request)
        items, total = await trust.store.read(repo.credential_requests, page.limit, page.offset)
        return page.response(request, [r.to_api() for r in items], total)

    async def credential_request(request: web.Request) -> web.Response:
        record = await issuing().refresh(request.match_info["request_id"])
        return web.json_response(record.to_api())

    return openapi.RouteGroup(
        [
            web.get("/v1/verifications", verifications),
            web.get("/v1/trust-lists", trust_lists),
            web.get("/v1/recognitions", recognitions),
            web.get("/v1/credentials", credentials),
            web.post("/v1/credentials/requests", request_credentials),
            web.get("/v1/credentials/requests", credential_requests),
            web.get("/v1/credentials/requests/{request_id}", credential_request),
        ],
        API,
    )


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _answers(body: dict[str, Any], *errors: str) -> dict[str, Any]:
    problem = {"content": {"application/problem+json": {"schema": _ref("Problem")}}}
    out: dict[str, Any] = {"200": {"description": "OK", "content": {"application/json": {"schema": body}}}}
    for status in ("401",) + errors:
        out[status] = {"description": "Missing or wrong API key" if status == "401" else "Invalid input", **problem}
    return out


def _listing(item: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "total"],
        "properties": {"items": {"type": "array", "items": _ref(item)}, "total": {"type": "integer"}, **extra},
    }


def _document() -> openapi.ApiSection:
    """The routes' description in the management API's OpenAPI document."""
    schemas: dict[str, Any] = {
        "Verification": {
            "type": "object",
            "description": "One verification of a peer's request (DCP)",
            "properties": {
                "id": {"type": "integer"},
                "at": {"type": "string", "format": "date-time"},
                "peer": {"type": ["string", "null"], "description": "Participant id of the TLS peer"},
                "outcome": {"type": "string", "enum": list(OUTCOMES)},
                "code": {
                    "type": ["string", "null"],
                    "description": "The failed check, e.g. token.replayed, credential.revoked, status.unavailable",
                },
                "reason": {"type": ["string", "null"]},
                "step": {
                    "type": ["string", "null"],
                    "enum": [
                        "certificate",
                        "token",
                        "did_document",
                        "presentation",
                        "status",
                        "credentials",
                        "credential_service",
                        None,
                    ],
                },
                "method": {"type": ["string", "null"]},
                "path": {"type": ["string", "null"]},
                "requestId": {"type": ["string", "null"]},
                "detail": {"type": "object"},
            },
        },
        "TrustListState": {
            "type": "object",
            "properties": {
                "key": {"type": "string"},
                "file": {"type": "string"},
                "url": {"type": ["string", "null"]},
                "anchorSha256": {"type": "string"},
                "federationId": {"type": ["string", "null"]},
                "federationName": {"type": ["string", "null"]},
                "sequence": {"type": ["integer", "null"]},
                "validFrom": {"type": ["string", "null"]},
                "validUntil": {"type": ["string", "null"]},
                "state": {"type": "string", "enum": ["valid", "expired", "unusable"]},
                "source": {"type": ["string", "null"], "enum": ["file", "url", "store", None]},
                "format": {"type": ["string", "null"], "enum": ["jws", "etsi", None]},
                "territory": {"type": ["string", "null"], "description": "A member state's list through the LOTL"},
                "issuers": {"type": "array", "items": {"type": "object"}},
                "services": {
                    "type": "array",
                    "description": "The accredited services the list names (ETSI TS 119 612 types and statuses)",
                    "items": {"type": "object"},
                },
                "lastProblem": {"type": ["object", "null"]},
            },
        },
        "OwnCredential": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "types": {"type": "array", "items": {"type": "string"}},
                "issuer": {"type": "string"},
                "validUntil": {"type": ["string", "null"]},
                "sha256": {"type": "string"},
                "source": {"type": "string"},
                "loadedAt": {"type": "string"},
            },
        },
    }
    schemas["CredentialRequest"] = {
        "type": "object",
        "description": "Credentials this node asked an issuer for (DCP credential issuance)",
        "properties": {
            "id": {"type": "string", "description": "This node's request id (holderPid)"},
            "issuer": {"type": "string", "description": "The issuer's DID"},
            "issuerUrl": {"type": "string"},
            "issuerPid": {"type": ["string", "null"]},
            "types": {"type": "array", "items": {"type": "string"}},
            "state": {"type": "string", "enum": ["REQUESTED", "RECEIVED", "ISSUED", "REJECTED"]},
            "reason": {"type": ["string", "null"]},
            "credentials": {"type": "array", "items": {"type": "string"}, "description": "Ids stored from it"},
            "createdAt": {"type": "string", "format": "date-time"},
            "updatedAt": {"type": "string", "format": "date-time"},
        },
    }
    requests_page = _listing("CredentialRequest", limit={"type": "integer"}, offset={"type": "integer"})
    page = _listing(
        "Verification",
        limit={"type": "integer"},
        offset={"type": "integer"},
        next={"type": "string", "description": "Relative URL of the next page"},
    )
    paths = {
        "/v1/verifications": {
            "get": {
                "tags": ["trust"],
                "operationId": "listVerifications",
                "summary": "List the verifications of peers' requests, newest first",
                "parameters": openapi.PAGING
                + [
                    {"name": "outcome", "in": "query", "schema": {"type": "string", "enum": list(OUTCOMES)}},
                    {"name": "peer", "in": "query", "schema": {"type": "string"}},
                    {
                        "name": "code",
                        "in": "query",
                        "description": "A check code, or a prefix ending in '.'",
                        "schema": {"type": "string"},
                    },
                ],
                "responses": _answers(page, "400"),
            }
        },
        "/v1/trust-lists": {
            "get": {
                "tags": ["trust"],
                "operationId": "listTrustLists",
                "summary": "List the configured trust lists and the copy of each in force",
                "responses": _answers(_listing("TrustListState", verifying={"type": "boolean"})),
            }
        },
        "/v1/recognitions": {
            "get": {
                "tags": ["trust"],
                "operationId": "listRecognitions",
                "summary": "List the recognition statements this node holds",
                "description": "Which statements its own federation signed (those it applies), and those that could "
                "not be verified, with the reason.",
                "responses": _answers(
                    {
                        "type": "object",
                        "properties": {
                            "own": {"type": "array", "items": {"type": "string"}},
                            "items": {"type": "array", "items": {"type": "object"}},
                            "problems": {"type": "array", "items": {"type": "object"}},
                        },
                    }
                ),
            }
        },
        "/v1/credentials": {
            "get": {
                "tags": ["trust"],
                "operationId": "listCredentials",
                "summary": "List the credentials this node presents",
                "responses": _answers(_listing("OwnCredential")),
            }
        },
        "/v1/credentials/requests": {
            "get": {
                "tags": ["trust"],
                "operationId": "listCredentialRequests",
                "summary": "List the credentials asked of issuers, newest first",
                "parameters": openapi.PAGING,
                "responses": _answers(requests_page, "400"),
            },
            "post": {
                "tags": ["trust"],
                "operationId": "requestCredentials",
                "summary": "Request credentials from an issuer service",
                "description": "A DCP CredentialRequestMessage; the issuer delivers the credentials to this node's "
                "credential service once it approves.",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["issuer", "types"],
                                "properties": {
                                    "issuer": {"type": "string", "description": "The issuer service's base URL"},
                                    "types": {"type": "array", "items": {"type": "string"}},
                                },
                            }
                        }
                    },
                },
                "responses": {
                    **{k: v for k, v in _answers(_ref("CredentialRequest"), "400", "503").items() if k != "200"},
                    "201": {
                        "description": "Sent and acknowledged",
                        "content": {"application/json": {"schema": _ref("CredentialRequest")}},
                    },
                },
            },
        },
        "/v1/credentials/requests/{request_id}": {
            "get": {
                "tags": ["trust"],
                "operationId": "getCredentialRequest",
                "summary": "Get a credential request, with the issuer's current status",
                "parameters": [{"name": "request_id", "in": "path", "required": True, "schema": {"type": "string"}}],
                "responses": _answers(_ref("CredentialRequest"), "404"),
            }
        },
    }
    return openapi.ApiSection(paths, schemas)


API = _document()
