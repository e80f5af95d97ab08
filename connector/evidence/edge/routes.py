"""Management API for evidence (API key protected, like the rest of ``/v1``).

- ``GET  /v1/evidence``: whether the log is kept, its head, the last checkpoint;
- ``POST /v1/evidence/checkpoints``: write a signed checkpoint now (time-stamped when a TSA is configured);
- ``GET  /v1/evidence/checkpoints``: the latest checkpoints, newest first (``?limit=``);
- ``POST /v1/evidence/check``: verify the whole stored log (and its archives); the first broken link comes first
  in ``problems``;
- ``POST /v1/evidence/archives``: move the records up to a checkpoint at least ``olderThanDays`` old (default 30;
  0 for a checkpoint made now) to a signed archive file in the node's data folder;
- ``GET  /v1/evidence/archives``: the archives made so far, oldest first;
- ``GET  /v1/evidence/agreements/{id}/bundle``: the self-contained evidence bundle of one agreement;
- ``GET  /v1/evidence/agreements/{id}/signatures``: the signatures held for one agreement, with their status.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from connector.errors import ConnectorError
from connector.evidence.edge.service import NodeEvidence
from connector.store.interface import Store, Tx
from connector.store.sql import evidence as tables
from connector.web import openapi
from connector.web.inputs import body_object

DEFAULT_ARCHIVE_AGE_DAYS = 30
MAX_ARCHIVE_AGE_DAYS = 36_500


class EvidenceRoutes:
    """`evidence` None: the node keeps no evidence log (the routes say so)."""

    def __init__(self, evidence: NodeEvidence | None, store: Store) -> None:
        self.evidence = evidence
        self.store = store

    def group(self) -> openapi.RouteGroup:
        return openapi.RouteGroup(
            [
                web.get("/v1/evidence", self.status),
                web.post("/v1/evidence/checkpoints", self.create_checkpoint),
                web.get("/v1/evidence/checkpoints", self.list_checkpoints),
                web.post("/v1/evidence/check", self.check),
                web.post("/v1/evidence/archives", self.create_archive),
                web.get("/v1/evidence/archives", self.list_archives),
                web.get("/v1/evidence/agreements/{id}/bundle", self.bundle),
                web.get("/v1/evidence/agreements/{id}/signatures", self.signatures),
            ],
            API,
        )

    def _evidence(self) -> NodeEvidence:
        evidence = self.evidence
        if evidence is None:
            raise ConnectorError(
                "evidence.unavailable",
                "this node keeps no evidence log (evidence is disabled, or the node has no signing identity)",
            )
        return evidence

    async def status(self, request: web.Request) -> web.Response:
        evidence = self.evidence
        if evidence is None:
            return web.json_response({"enabled": False})
        return web.json_response(await evidence.status())

    async def create_checkpoint(self, request: web.Request) -> web.Response:
        described = await self._evidence().checkpoint(on_demand=True)
        if described is None:
            raise ConnectorError("evidence.empty", "the log holds no records yet")
        return web.json_response(described, status=201 if described["created"] else 200)

    async def list_checkpoints(self, request: web.Request) -> web.Response:
        self._evidence()  # refuses when this node keeps no evidence
        try:
            limit = max(1, min(500, int(request.query.get("limit", "20"))))
        except ValueError:
            raise ConnectorError("request.invalid", "'limit' must be an integer", "limit") from None

        def read(db: Tx) -> list[dict[str, Any]]:
            rows = tables.checkpoints(db)[-limit:]
            stamped = {t.checkpoint_id: t for t in tables.timestamps(db)}
            return [
                {
                    "id": c.id,
                    "count": c.count,
                    "head": c.head,
                    "at": c.at,
                    "timestamp": (
                        {"genTime": stamped[c.id].gen_time, "tsa": stamped[c.id].tsa} if c.id in stamped else None
                    ),
                }
                for c in reversed(rows)
            ]

        return web.json_response({"items": await self.store.read(read)})

    async def check(self, request: web.Request) -> web.Response:
        result = await self._evidence().check()
        return web.json_response(result.to_json())

    async def create_archive(self, request: web.Request) -> web.Response:
        evidence = self._evidence()
        body = await body_object(request) if request.can_read_body else {}
        days = body.get("olderThanDays", DEFAULT_ARCHIVE_AGE_DAYS)
        if not isinstance(days, int) or isinstance(days, bool) or not 0 <= days <= MAX_ARCHIVE_AGE_DAYS:
            raise ConnectorError(
                "request.invalid",
                f"'olderThanDays' must be an integer from 0 to {MAX_ARCHIVE_AGE_DAYS}",
                "olderThanDays",
            )
        return web.json_response(await evidence.archive(timedelta(days=days)), status=201)

    async def list_archives(self, request: web.Request) -> web.Response:
        self._evidence()
        done = await self.store.read(tables.archives)
        return web.json_response({"items": [NodeEvidence.describe_archive(a) for a in done]})

    async def bundle(self, request: web.Request) -> web.Response:
        document = await self._evidence().export(request.match_info["id"])
        return web.json_response(document)

    async def signatures(self, request: web.Request) -> web.Response:
        self._evidence()
        agreement_id = request.match_info["id"]
        held = await self.store.read(tables.signatures_of, agreement_id)
        return web.json_response(
            {"agreementId": agreement_id, "signatures": {role: s.to_api() for role, s in held.items()}}
        )


def _document() -> openapi.ApiSection:
    """The routes' description in the management API's OpenAPI document."""

    def ref(name: str) -> dict[str, str]:
        return {"$ref": f"#/components/schemas/{name}"}

    problem = ref("Problem")

    def answers(schema: dict[str, Any], *errors: str, status: str = "200") -> dict[str, Any]:
        out: dict[str, Any] = {status: {"description": "OK", "content": {"application/json": {"schema": schema}}}}
        for code in errors:
            out[code] = {"description": "Problem", "content": {"application/problem+json": {"schema": problem}}}
        return out

    timestamp = {
        "type": "object",
        "properties": {"genTime": {"type": "string"}, "tsa": {"type": "string"}, "serial": {"type": "string"}},
    }
    schemas: dict[str, Any] = {
        "EvidenceStatus": {
            "type": "object",
            "properties": {
                "enabled": {"type": "boolean"},
                "node": {"type": "string"},
                "records": {"type": "integer"},
                "head": {"type": "string", "description": "Hash of the last record"},
                "requireSignatures": {"type": "boolean"},
                "checkpointInterval": {"type": "number"},
                "tsaUrl": {"type": ["string", "null"]},
                "lastCheckpoint": {"type": ["object", "null"]},
            },
        },
        "Checkpoint": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "count": {"type": "integer"},
                "head": {"type": "string"},
                "at": {"type": "string"},
                "created": {"type": "boolean"},
                "jws": {"type": "string", "description": "The signed checkpoint (compact JWS with x5c)"},
                "timestamps": {"type": "array", "items": timestamp},
            },
        },
        "LogCheck": {
            "type": "object",
            "properties": {
                "ok": {"type": "boolean"},
                "records": {"type": "integer"},
                "head": {"type": "object"},
                "checkpoints": {"type": "integer"},
                "timestamps": {"type": "integer"},
                "subjects": {"type": "integer"},
                "signatures": {"type": "integer"},
                "archives": {"type": "integer", "description": "Archives checked (their records are counted)"},
                "firstBreak": {
                    "type": ["object", "null"],
                    "description": "code (chain.altered, chain.missing, "
                    "chain.truncated, chain.diverged, archive.missing, ...), reason, where, details (seq; "
                    "for archive.missing the file and the folder looked in)",
                },
                "problems": {"type": "array", "items": {"type": "object"}},
            },
        },
        "EvidenceArchive": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "first": {"type": "integer", "description": "The first record it holds"},
                "last": {"type": "integer", "description": "The last record it holds"},
                "head": {"type": "string", "description": "Hash of its last record"},
                "checkpoint": {"type": "integer", "description": "The checkpoint at its last record (kept live)"},
                "file": {"type": "string", "description": "Its file in the node's evidence.archive_dir"},
                "sha256": {"type": "string"},
                "at": {"type": "string"},
                "path": {"type": "string", "description": "Where the node wrote it (when just made)"},
            },
        },
        "EvidenceBundle": {
            "type": "object",
            "description": "Self-contained evidence of one agreement "
            "(connector.evidence.bundle); verify it offline with 'connector evidence verify'",
        },
        "AgreementSignatures": {
            "type": "object",
            "properties": {
                "agreementId": {"type": "string"},
                "signatures": {
                    "type": "object",
                    "description": "provider / consumer: status (signed, verified, "
                    "unsigned, invalid), signer, jws, code, reason, at",
                },
            },
        },
    }
    paths = {
        "/v1/evidence": {
            "get": {
                "tags": ["evidence"],
                "operationId": "getEvidenceStatus",
                "summary": "Get the evidence log's head and last checkpoint",
                "responses": answers(ref("EvidenceStatus")),
            }
        },
        "/v1/evidence/checkpoints": {
            "get": {
                "tags": ["evidence"],
                "operationId": "listCheckpoints",
                "summary": "List the latest signed checkpoints, newest first",
                "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}}],
                "responses": answers({"type": "object", "properties": {"items": {"type": "array"}}}, "503"),
            },
            "post": {
                "tags": ["evidence"],
                "operationId": "writeCheckpoint",
                "summary": "Write a signed (and time-stamped) checkpoint now",
                "responses": {
                    **answers(ref("Checkpoint"), "400", "503", status="201"),
                    "200": {"description": "Nothing new since the last checkpoint"},
                },
            },
        },
        "/v1/evidence/check": {
            "post": {
                "tags": ["evidence"],
                "operationId": "checkEvidenceLog",
                "summary": "Verify the whole stored log (the first broken link comes first)",
                "responses": answers(ref("LogCheck"), "503"),
            }
        },
        "/v1/evidence/archives": {
            "get": {
                "tags": ["evidence"],
                "operationId": "listEvidenceArchives",
                "summary": "List the evidence archives, oldest first",
                "responses": answers(
                    {"type": "object", "properties": {"items": {"type": "array", "items": ref("EvidenceArchive")}}},
                    "503",
                ),
            },
            "post": {
                "tags": ["evidence"],
                "operationId": "createEvidenceArchive",
                "summary": "Create a signed archive of the records up to a checkpoint of the given age",
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"olderThanDays": {"type": "integer", "minimum": 0, "default": 30}},
                            }
                        }
                    }
                },
                "responses": answers(ref("EvidenceArchive"), "400", "409", "503", status="201"),
            },
        },
        "/v1/evidence/agreements/{id}/bundle": {
            "get": {
                "tags": ["evidence"],
                "operationId": "exportEvidenceBundle",
                "summary": "Export the evidence bundle of an agreement",
                "parameters": openapi.ID,
                "responses": answers(ref("EvidenceBundle"), "400", "404", "410", "503"),
            }
        },
        "/v1/evidence/agreements/{id}/signatures": {
            "get": {
                "tags": ["evidence"],
                "operationId": "getAgreementSignatures",
                "summary": "Get the signatures held for an agreement",
                "parameters": openapi.ID,
                "responses": answers(ref("AgreementSignatures"), "503"),
            }
        },
    }
    return openapi.ApiSection(paths, schemas)


API = _document()
