"""The management API's own description (checks, assets, policies, offers, catalogue, negotiations,
agreements, transfers), joined with the other route groups' sections into `/v1/openapi.json`."""

from __future__ import annotations

from typing import Any

from connector.dsp.vocabulary import NegotiationState, Role, TransferState
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


def _secret(what: str) -> dict[str, Any]:
    return {
        "description": f"{what}: the value itself, or where the node reads it at each request "
        '({"env": "VARIABLE", "prefix": "Bearer "}), so that the secret need not be stored with the asset',
        "oneOf": [
            {"type": "string"},
            {
                "type": "object",
                "required": ["env"],
                "additionalProperties": False,
                "properties": {
                    "env": {"type": "string", "description": "The environment variable holding the value"},
                    "prefix": {"type": "string", "description": "Text put before the variable's value"},
                },
            },
        ],
    }


_MEDIA_TYPE = {
    "type": "string",
    "description": "The media type consumers are told (default: guessed or the back end's)",
}
_ROOT = {
    "type": "string",
    "default": "default",
    "description": "The data root the path is below: 'default' (data.root) or a name of data.roots",
}
SOURCE_SCHEMAS: dict[str, Any] = {
    "FileSource": {
        "type": "object",
        "description": "A file, or a folder sent as a tar archive, below a data root of the node; nothing "
        "outside the root, no symbolic link and no '..' is ever served",
        "required": ["type", "path"],
        "additionalProperties": False,
        "properties": {
            "type": {"const": "file"},
            "path": {
                "type": "string",
                "description": "The file or folder, relative to the root",
                "examples": ["reports/2024.csv"],
            },
            "root": _ROOT,
            "mediaType": {
                **_MEDIA_TYPE,
                "description": "The media type consumers are told (default: guessed "
                "from the file name; application/x-tar for a folder)",
            },
        },
    },
    "HttpSource": {
        "type": "object",
        "description": "The provider's own HTTP back end, streamed through; its headers, errors, URL and "
        "credentials never reach the consumer, and redirects are not followed",
        "required": ["type", "url"],
        "additionalProperties": False,
        "properties": {
            "type": {"const": "http"},
            "url": {
                "type": "string",
                "format": "uri",
                "description": "The back end's absolute http(s) URL, without credentials or fragment",
            },
            "headers": {
                "type": "object",
                "description": "Headers sent to the back end (not Host, Range, framing or encoding headers, "
                "which the node sets)",
                "additionalProperties": _secret("A header value"),
            },
            "basicAuth": {
                "type": "object",
                "description": "HTTP basic authentication towards the back end (instead of an Authorization header)",
                "required": ["username", "password"],
                "additionalProperties": False,
                "properties": {"username": _secret("The user name (no ':')"), "password": _secret("The password")},
            },
            "timeouts": {
                "type": "object",
                "description": "Seconds the node waits for the back end",
                "additionalProperties": False,
                "properties": {
                    "connect": {"type": "number", "exclusiveMinimum": 0, "default": 10, "description": "To connect"},
                    "read": {
                        "type": "number",
                        "exclusiveMinimum": 0,
                        "default": 60,
                        "description": "Between two pieces of the answer",
                    },
                    "total": {
                        "type": "number",
                        "exclusiveMinimum": 0,
                        "description": "For the whole answer (default: no limit)",
                    },
                },
            },
            "ranges": {
                "type": "boolean",
                "default": True,
                "description": "Pass a consumer's byte range on to "
                "the back end (false: the node reads from the start and skips)",
            },
            "mediaType": _MEDIA_TYPE,
        },
    },
    "SqlSource": {
        "type": "object",
        "description": "One read-only query on a SQLite database below a data root, streamed as CSV or JSON "
        "lines; nothing the query does can change the database",
        "required": ["type", "database", "query"],
        "additionalProperties": False,
        "properties": {
            "type": {"const": "sql"},
            "database": {"type": "string", "description": "The database file, relative to the root"},
            "root": _ROOT,
            "query": {
                "type": "string",
                "description": "A SELECT statement; parameters are bound, never formatted in",
                "examples": ["SELECT * FROM sales WHERE region = :region"],
            },
            "parameters": {
                "description": "Values of the query's parameters: a list for ?, an object for :name",
                "oneOf": [
                    {"type": "array", "items": {"type": ["string", "number", "boolean", "null"]}},
                    {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean", "null"]}},
                ],
            },
            "format": {
                "type": "string",
                "enum": ["csv", "jsonl"],
                "default": "csv",
                "description": "How rows are written: CSV with a header line, or one JSON object per line",
            },
            "mediaType": {**_MEDIA_TYPE, "description": "The media type consumers are told (default: by format)"},
            "timeout": {
                "type": "number",
                "exclusiveMinimum": 0,
                "default": 300,
                "description": "Seconds the query may run",
            },
        },
    },
}

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
                "description": "Where the data comes from: a file or folder below a data root, the provider's "
                "HTTP back end, or a read-only SQL query; each kind takes the fields described in its schema",
                "oneOf": [ref("FileSource"), ref("HttpSource"), ref("SqlSource")],
                "discriminator": {
                    "propertyName": "type",
                    "mapping": {
                        "file": "#/components/schemas/FileSource",
                        "http": "#/components/schemas/HttpSource",
                        "sql": "#/components/schemas/SqlSource",
                    },
                },
            },
            "properties": {"type": "object"},
        },
    },
    **SOURCE_SCHEMAS,
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
            "operationId": "getHealth",
            "summary": "Get the node's health (no API key needed)",
            "security": [],
            "responses": {"200": {"description": "Healthy"}, "503": {"description": "Degraded"}},
        }
    },
    "/check/readiness": {
        "get": {
            "tags": ["checks"],
            "operationId": "getReadiness",
            "summary": "Tell whether the node is ready to serve",
            "security": [],
            "responses": {"200": {"description": "Ready"}, "503": {"description": "Not yet"}},
        }
    },
    "/check/liveness": {
        "get": {
            "tags": ["checks"],
            "operationId": "getLiveness",
            "summary": "Tell whether the node's event loop answers",
            "security": [],
            "responses": {"200": {"description": "Alive"}},
        }
    },
    "/v1/assets": collection("asset", "assets", "Asset", "assets"),
    "/v1/assets/{id}": crud("asset", "Asset", "assets"),
    "/v1/policies": collection("policy", "policies", "Policy", "policies"),
    "/v1/policies/{id}": crud("policy", "Policy", "policies"),
    "/v1/offers": collection("offer", "offers", "Offer", "offers"),
    "/v1/offers/{id}": crud("offer", "Offer", "offers", updatable=False),
    "/v1/catalog/request": {
        "post": {
            "tags": ["catalog"],
            "operationId": "requestCatalog",
            "summary": "Ask a peer for its catalogue",
            "requestBody": body("CatalogRequest"),
            "responses": {**ok("Catalog"), **problems("400", "502")},
        }
    },
    "/v1/negotiations": {
        "get": {
            "tags": ["negotiations"],
            "operationId": "listNegotiations",
            "summary": "List negotiations",
            "parameters": PAGING
            + [
                {
                    "name": "state",
                    "in": "query",
                    "schema": {"type": "string", "enum": [v.value for v in NegotiationState]},
                },
                {"name": "role", "in": "query", "schema": {"type": "string", "enum": [v.value for v in Role]}},
            ],
            "responses": {**ok(page_of("Negotiation")), **problems("400")},
        },
        "post": {
            "tags": ["negotiations"],
            "operationId": "startNegotiation",
            "summary": "Start a negotiation with a provider (as consumer)",
            "requestBody": body("NegotiationRequest"),
            "responses": {**ok("Negotiation", "201", "Started"), **problems("400", "502")},
        },
    },
    "/v1/negotiations/{id}": {
        "get": {
            "tags": ["negotiations"],
            "operationId": "getNegotiation",
            "summary": "Get a negotiation with its history",
            "parameters": ID + WAIT,
            "responses": {**ok("Negotiation"), **problems("404")},
        }
    },
    "/v1/negotiations/{id}/{action}": command("negotiations", "negotiation", ["terminate", "accept"], "Negotiation"),
    "/v1/agreements": {
        "get": {
            "tags": ["agreements"],
            "operationId": "listAgreements",
            "summary": "List agreements",
            "parameters": PAGING,
            "responses": {**ok(page_of("Agreement")), **problems("400")},
        }
    },
    "/v1/agreements/{id}": {
        "get": {
            "tags": ["agreements"],
            "operationId": "getAgreement",
            "summary": "Get an agreement",
            "parameters": ID,
            "responses": {**ok("Agreement"), **problems("404")},
        }
    },
    "/v1/transfers": {
        "get": {
            "tags": ["transfers"],
            "operationId": "listTransfers",
            "summary": "List transfers",
            "parameters": PAGING
            + [
                {
                    "name": "state",
                    "in": "query",
                    "schema": {"type": "string", "enum": [v.value for v in TransferState]},
                },
                {"name": "role", "in": "query", "schema": {"type": "string", "enum": [v.value for v in Role]}},
                {"name": "agreementId", "in": "query", "schema": {"type": "string"}},
            ],
            "responses": {**ok(page_of("Transfer")), **problems("400")},
        },
        "post": {
            "tags": ["transfers"],
            "operationId": "startTransfer",
            "summary": "Request a transfer under an agreement (as consumer)",
            "requestBody": body("TransferRequest"),
            "responses": {**ok("Transfer", "201", "Requested"), **problems("400", "404", "409")},
        },
    },
    "/v1/transfers/{id}": {
        "get": {
            "tags": ["transfers"],
            "operationId": "getTransfer",
            "summary": "Get a transfer with its history",
            "parameters": ID + WAIT,
            "responses": {**ok("Transfer"), **problems("404")},
        }
    },
    "/v1/transfers/{id}/{action}": command(
        "transfers",
        "transfer",
        ["suspend", "resume", "complete", "terminate"],
        "Transfer",
        {
            "file": {
                "type": "string",
                "description": "complete, as consumer: where the data received was written (the node keeps it as "
                "received data and carries out the agreement's duties on it, such as deleting it when due)",
            }
        },
    ),
}

SECTION = ApiSection(PATHS, SCHEMAS)
