"""The management API's own description (checks, assets, policies, offers, catalogue, negotiations,
agreements, transfers), joined with the other route groups' sections into `/v1/openapi.json`."""

from __future__ import annotations

from typing import Any

from connector.web.openapi import (
    ID,
    PAGING,
    WAIT,
    ApiSection,
    body,
    collection,
    command,
    crud,
    ok,
    page_of,
    problems,
    ref,
)

SCHEMAS: dict[str, Any] = {
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
            "deadline": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "While waiting for the peer: when the process gives up (TERMINATED, the peer told)",
            },
            "nextStateQuery": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "While waiting for the peer: when the peer is next asked for the process's state",
            },
            "counterPartyClaims": ref("VerifiedClaims"),
            "history": {"type": "array", "items": ref("HistoryEntry")},
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
            "deadline": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "While waiting for the peer: when the process gives up (TERMINATED, the peer told)",
            },
            "nextStateQuery": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "While waiting for the peer: when the peer is next asked for the process's state",
            },
            "counterPartyClaims": ref("VerifiedClaims"),
            "history": {"type": "array", "items": ref("HistoryEntry")},
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


PATHS: dict[str, Any] = {
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
    "/v1/assets": collection("asset", "Asset", "assets"),
    "/v1/assets/{id}": crud("asset", "Asset", "assets"),
    "/v1/policies": collection("policy", "Policy", "policies"),
    "/v1/policies/{id}": crud("policy", "Policy", "policies"),
    "/v1/offers": collection("offer", "Offer", "offers"),
    "/v1/offers/{id}": crud("offer", "Offer", "offers", updatable=False),
    "/v1/catalog/request": {
        "post": {
            "tags": ["catalog"],
            "summary": "Ask a peer for its catalogue",
            "requestBody": body("CatalogRequest"),
            "responses": {**ok("Catalog"), **problems("400", "502")},
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
            "responses": {**ok(page_of("Negotiation")), **problems("400")},
        },
        "post": {
            "tags": ["negotiations"],
            "summary": "Start a negotiation with a provider (as consumer)",
            "requestBody": body("NegotiationRequest"),
            "responses": {**ok("Negotiation", "201", "Started"), **problems("400", "502")},
        },
    },
    "/v1/negotiations/{id}": {
        "get": {
            "tags": ["negotiations"],
            "summary": "A negotiation with its history",
            "parameters": ID + WAIT,
            "responses": {**ok("Negotiation"), **problems("404")},
        }
    },
    "/v1/negotiations/{id}/{action}": command("negotiations", ["terminate", "accept"], "Negotiation"),
    "/v1/agreements": {
        "get": {
            "tags": ["agreements"],
            "summary": "List agreements",
            "parameters": PAGING,
            "responses": {**ok(page_of("Agreement")), **problems("400")},
        }
    },
    "/v1/agreements/{id}": {
        "get": {
            "tags": ["agreements"],
            "summary": "One agreement",
            "parameters": ID,
            "responses": {**ok("Agreement"), **problems("404")},
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
            "responses": {**ok(page_of("Transfer")), **problems("400")},
        },
        "post": {
            "tags": ["transfers"],
            "summary": "Request a transfer under an agreement (as consumer)",
            "requestBody": body("TransferRequest"),
            "responses": {**ok("Transfer", "201", "Requested"), **problems("400", "404", "409")},
        },
    },
    "/v1/transfers/{id}": {
        "get": {
            "tags": ["transfers"],
            "summary": "A transfer with its history",
            "parameters": ID + WAIT,
            "responses": {**ok("Transfer"), **problems("404")},
        }
    },
    "/v1/transfers/{id}/{action}": command("transfers", ["suspend", "resume", "complete", "terminate"], "Transfer"),
}

SECTION = ApiSection(PATHS, SCHEMAS)
