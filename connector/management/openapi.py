"""The management API described as an OpenAPI 3.1 document, served at `/v1/openapi.json`.

Written as data next to the handlers it describes; a test checks that every route the app serves is documented
and that every documented path exists.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from connector import __version__

JSON = "application/json"
PROBLEM = "application/problem+json"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _body(schema: str, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {JSON: {"schema": _ref(schema)}}}


def _ok(schema: str | dict[str, Any], status: str = "200", description: str = "OK") -> dict[str, Any]:
    body = _ref(schema) if isinstance(schema, str) else schema
    return {status: {"description": description, "content": {JSON: {"schema": body}}}}


def _problems(*statuses: str) -> dict[str, Any]:
    names = {
        "400": "Invalid input (the problem names the field)",
        "401": "Missing or wrong API key",
        "404": "Not found",
        "409": "Conflicts with the current state",
        "502": "The peer failed or refused",
        "503": "Not ready",
    }
    return {
        s: {"description": names.get(s, "Error"), "content": {PROBLEM: {"schema": _ref("Problem")}}}
        for s in ("401",) + statuses
    }


def _page_of(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "total", "limit", "offset"],
        "properties": {
            "items": {"type": "array", "items": _ref(item)},
            "total": {"type": "integer"},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
            "next": {"type": "string", "description": "Relative URL of the next page"},
        },
    }


PAGING = [
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50}},
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
]
ID = [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}]
WAIT = [
    {
        "name": "wait",
        "in": "query",
        "description": "Comma-separated states: answer once the process is in one of them (or terminal)",
        "schema": {"type": "string"},
    },
    {
        "name": "timeout",
        "in": "query",
        "description": "Seconds to wait (at most 300)",
        "schema": {"type": "number", "default": 30},
    },
]


def _crud(name: str, schema: str, tag: str, updatable: bool = True) -> dict[str, Any]:
    item: dict[str, Any] = {
        "get": {
            "tags": [tag],
            "summary": f"Get one {name}",
            "parameters": ID,
            "responses": {**_ok(schema), **_problems("404")},
        },
        "delete": {
            "tags": [tag],
            "summary": f"Delete a {name}",
            "parameters": ID,
            "responses": {"204": {"description": "Deleted"}, **_problems("404", "409")},
        },
    }
    if updatable:
        item["put"] = {
            "tags": [tag],
            "summary": f"Replace a {name}",
            "parameters": ID,
            "requestBody": _body(schema),
            "responses": {**_ok(schema), **_problems("400")},
        }
    return item


def _collection(name: str, schema: str, tag: str) -> dict[str, Any]:
    return {
        "get": {
            "tags": [tag],
            "summary": f"List {name}s",
            "parameters": PAGING,
            "responses": {**_ok(_page_of(schema)), **_problems("400")},
        },
        "post": {
            "tags": [tag],
            "summary": f"Create a {name}",
            "requestBody": _body(schema),
            "responses": {**_ok(schema, "201", "Created"), **_problems("400", "409")},
        },
    }


def _command(tag: str, actions: list[str], schema: str) -> dict[str, Any]:
    return {
        "post": {
            "tags": [tag],
            "summary": "Act on the process: " + ", ".join(actions),
            "parameters": ID
            + [{"name": "action", "in": "path", "required": True, "schema": {"type": "string", "enum": actions}}],
            "requestBody": {
                "required": False,
                "content": {JSON: {"schema": {"type": "object", "properties": {"reason": {"type": "string"}}}}},
            },
            "responses": {**_ok(schema), **_problems("404", "409")},
        }
    }


SCHEMAS: dict[str, Any] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details",
        "required": ["type", "title", "status", "detail", "code"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "code": {"type": "string"},
            "where": {"type": "string", "description": "The offending field or key"},
        },
    },
    "Asset": {
        "type": "object",
        "required": ["id", "source"],
        "properties": {
            "id": {"type": "string"},
            "title": {"type": "string"},
            "description": {"type": "string"},
            "keywords": {"type": "array", "items": {"type": "string"}},
            "mediaType": {"type": "string"},
            "formats": {"type": "array", "items": {"type": "string", "enum": ["HttpData-PULL", "HttpData-PUSH"]}},
            "source": {
                "type": "object",
                "description": "Where the data comes from: {type: file|http|sql, ...}",
                "required": ["type"],
                "properties": {"type": {"type": "string", "enum": ["file", "http", "sql"]}},
            },
            "properties": {"type": "object"},
        },
    },
    "Policy": {
        "type": "object",
        "required": ["id", "policy"],
        "properties": {
            "id": {"type": "string"},
            "description": {"type": "string"},
            "policy": {
                "type": "object",
                "description": "ODRL policy as on the wire (permission, prohibition, obligation)",
            },
        },
    },
    "Offer": {
        "type": "object",
        "required": ["id", "assetId", "contractPolicyId"],
        "properties": {
            "id": {"type": "string", "description": "The Offer @id peers see in the catalogue"},
            "assetId": {"type": "string"},
            "contractPolicyId": {"type": "string"},
            "accessPolicyId": {"type": ["string", "null"], "description": "Who may see the offer"},
        },
    },
    "CatalogRequest": {
        "type": "object",
        "properties": {
            "peer": {"type": "string", "description": "A peer name from the configuration"},
            "counterPartyAddress": {"type": "string", "description": "The peer's DSP base URL"},
            "counterPartyId": {"type": "string"},
        },
    },
    "Catalog": {
        "type": "object",
        "properties": {
            "participantId": {"type": "string"},
            "address": {"type": "string"},
            "datasets": {"type": "array", "items": {"type": "object"}},
            "catalog": {"type": "object", "description": "The DCAT catalogue as the peer sent it"},
        },
    },
    "NegotiationRequest": {
        "type": "object",
        "properties": {
            "peer": {"type": "string"},
            "counterPartyAddress": {"type": "string"},
            "counterPartyId": {"type": "string"},
            "offerId": {"type": "string"},
            "datasetId": {"type": "string"},
            "offer": {"type": "object"},
            "purpose": {"type": "string"},
        },
    },
    "HistoryEntry": {
        "type": "object",
        "properties": {
            "seq": {"type": "integer"},
            "at": {"type": "string", "format": "date-time"},
            "from": {"type": ["string", "null"]},
            "to": {"type": "string"},
            "cause": {"type": "string"},
            "reason": {"type": ["string", "null"]},
            "detail": {"type": "object"},
        },
    },
    "Negotiation": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "role": {"type": "string", "enum": ["provider", "consumer"]},
            "state": {
                "type": "string",
                "enum": ["REQUESTED", "OFFERED", "ACCEPTED", "AGREED", "VERIFIED", "FINALIZED", "TERMINATED"],
            },
            "providerPid": {"type": ["string", "null"]},
            "consumerPid": {"type": ["string", "null"]},
            "counterPartyId": {"type": "string"},
            "counterPartyAddress": {"type": "string"},
            "datasetId": {"type": ["string", "null"]},
            "offerId": {"type": ["string", "null"]},
            "agreementId": {"type": ["string", "null"]},
            "reason": {"type": ["string", "null"]},
            "pendingStep": {"type": ["string", "null"]},
            "counterPartyClaims": _ref("VerifiedClaims"),
            "history": {"type": "array", "items": _ref("HistoryEntry")},
        },
    },
    "Agreement": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "negotiationId": {"type": "string"},
            "providerId": {"type": "string"},
            "consumerId": {"type": "string"},
            "datasetId": {"type": "string"},
            "policy": {"type": "object"},
            "concludedAt": {"type": "string"},
            "finalized": {"type": "boolean"},
        },
    },
    "TransferRequest": {
        "type": "object",
        "required": ["agreementId"],
        "properties": {
            "agreementId": {"type": "string"},
            "format": {"type": "string", "enum": ["HttpData-PULL", "HttpData-PUSH"], "default": "HttpData-PULL"},
            "dataDestination": {"type": "object", "description": "For push: a DSP DataAddress"},
        },
    },
    "Transfer": {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "role": {"type": "string", "enum": ["provider", "consumer"]},
            "state": {"type": "string", "enum": ["REQUESTED", "STARTED", "SUSPENDED", "COMPLETED", "TERMINATED"]},
            "agreementId": {"type": "string"},
            "format": {"type": "string"},
            "reason": {"type": ["string", "null"]},
            "counterPartyClaims": _ref("VerifiedClaims"),
            "history": {"type": "array", "items": _ref("HistoryEntry")},
        },
    },
    "VerifiedClaims": {
        "type": ["object", "null"],
        "description": "What verification established about the "
        "counterparty (null when no credentials were verified: no trust lists configured)",
        "properties": {
            "participantId": {"type": "string"},
            "verifiedAt": {"type": "string", "format": "date-time"},
            "credentials": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "types": {"type": "array", "items": {"type": "string"}},
                        "issuer": {"type": "string"},
                        "federation": {"type": ["string", "null"]},
                        "subject": {"type": "object"},
                        "validFrom": {"type": "string", "format": "date-time"},
                        "validUntil": {"type": ["string", "null"], "format": "date-time"},
                        "sha256": {"type": "string"},
                    },
                },
            },
        },
    },
}


def document() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/check/health": {
            "get": {
                "tags": ["checks"],
                "summary": "Health of the node (no API key needed)",
                "security": [],
                "responses": {"200": {"description": "Healthy"}, "503": {"description": "Degraded"}},
            }
        },
        "/check/readiness": {
            "get": {
                "tags": ["checks"],
                "summary": "Ready to serve",
                "security": [],
                "responses": {"200": {"description": "Ready"}, "503": {"description": "Not yet"}},
            }
        },
        "/check/liveness": {
            "get": {
                "tags": ["checks"],
                "summary": "The event loop answers",
                "security": [],
                "responses": {"200": {"description": "Alive"}},
            }
        },
        "/v1/openapi.json": {
            "get": {
                "tags": ["meta"],
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "OpenAPI 3.1 document"}},
            }
        },
        "/v1/assets": _collection("asset", "Asset", "assets"),
        "/v1/assets/{id}": _crud("asset", "Asset", "assets"),
        "/v1/policies": _collection("policy", "Policy", "policies"),
        "/v1/policies/{id}": _crud("policy", "Policy", "policies"),
        "/v1/offers": _collection("offer", "Offer", "offers"),
        "/v1/offers/{id}": _crud("offer", "Offer", "offers", updatable=False),
        "/v1/catalog/request": {
            "post": {
                "tags": ["catalog"],
                "summary": "Ask a peer for its catalogue",
                "requestBody": _body("CatalogRequest"),
                "responses": {**_ok("Catalog"), **_problems("400", "502")},
            }
        },
        "/v1/negotiations": {
            "get": {
                "tags": ["negotiations"],
                "summary": "List negotiations",
                "parameters": PAGING
                + [
                    {"name": "state", "in": "query", "schema": {"type": "string"}},
                    {"name": "role", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {**_ok(_page_of("Negotiation")), **_problems("400")},
            },
            "post": {
                "tags": ["negotiations"],
                "summary": "Start a negotiation with a provider (as consumer)",
                "requestBody": _body("NegotiationRequest"),
                "responses": {**_ok("Negotiation", "201", "Started"), **_problems("400", "502")},
            },
        },
        "/v1/negotiations/{id}": {
            "get": {
                "tags": ["negotiations"],
                "summary": "A negotiation with its history",
                "parameters": ID + WAIT,
                "responses": {**_ok("Negotiation"), **_problems("404")},
            }
        },
        "/v1/negotiations/{id}/{action}": _command("negotiations", ["terminate", "accept"], "Negotiation"),
        "/v1/agreements": {
            "get": {
                "tags": ["agreements"],
                "summary": "List agreements",
                "parameters": PAGING,
                "responses": {**_ok(_page_of("Agreement")), **_problems("400")},
            }
        },
        "/v1/agreements/{id}": {
            "get": {
                "tags": ["agreements"],
                "summary": "One agreement",
                "parameters": ID,
                "responses": {**_ok("Agreement"), **_problems("404")},
            }
        },
        "/v1/transfers": {
            "get": {
                "tags": ["transfers"],
                "summary": "List transfers",
                "parameters": PAGING
                + [
                    {"name": "state", "in": "query", "schema": {"type": "string"}},
                    {"name": "role", "in": "query", "schema": {"type": "string"}},
                    {"name": "agreementId", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {**_ok(_page_of("Transfer")), **_problems("400")},
            },
            "post": {
                "tags": ["transfers"],
                "summary": "Request a transfer under an agreement (as consumer)",
                "requestBody": _body("TransferRequest"),
                "responses": {**_ok("Transfer", "201", "Requested"), **_problems("400", "404", "409")},
            },
        },
        "/v1/transfers/{id}": {
            "get": {
                "tags": ["transfers"],
                "summary": "A transfer with its history",
                "parameters": ID + WAIT,
                "responses": {**_ok("Transfer"), **_problems("404")},
            }
        },
        "/v1/transfers/{id}/{action}": _command(
            "transfers", ["suspend", "resume", "complete", "terminate"], "Transfer"
        ),
    }
    for extra_path, item in EXTRA_PATHS.items():
        paths[extra_path] = item
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "connector management API",
            "version": __version__,
            "description": "Drive a connector node: what it offers, the peers it talks to, and the "
            "negotiations, agreements and transfers that follow. Errors are RFC 9457 problem "
            "details whose `where` names the offending field.",
        },
        "servers": [{"url": "/"}],
        "security": [{"apiKey": []}],
        "paths": paths,
        "components": {
            "schemas": {**SCHEMAS, **EXTRA_SCHEMAS},
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}},
        },
    }


# Subsystems document their own management routes here (path -> OpenAPI path item).
EXTRA_PATHS: dict[str, Any] = {}
EXTRA_SCHEMAS: dict[str, Any] = {}


async def serve(request: web.Request) -> web.Response:
    return web.json_response(document())


def routes() -> list[web.RouteDef]:
    return [web.get("/v1/openapi.json", serve)]
