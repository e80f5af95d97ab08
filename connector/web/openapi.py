"""OpenAPI 3.1 as data: the shapes every management API description is written with, and the document.

Each group of management routes describes itself next to its handlers (an `ApiSection`); the management app
joins the sections of the routes it serves into one document, so that description and routes cannot drift.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from connector import __version__

JSON = "application/json"
PROBLEM = "application/problem+json"


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def body(schema: str, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {JSON: {"schema": ref(schema)}}}


def ok(schema: str | dict[str, Any], status: str = "200", description: str = "OK") -> dict[str, Any]:
    body = ref(schema) if isinstance(schema, str) else schema
    return {status: {"description": description, "content": {JSON: {"schema": body}}}}


def problems(*statuses: str) -> dict[str, Any]:
    names = {
        "400": "Invalid input (the problem names the field)",
        "401": "Missing or wrong API key",
        "404": "Not found",
        "409": "Conflicts with the current state",
        "502": "The peer failed or refused",
        "503": "Not ready",
    }
    return {
        s: {"description": names.get(s, "Error"), "content": {PROBLEM: {"schema": ref("Problem")}}}
        for s in ("401",) + statuses
    }


def page_of(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "total", "limit", "offset"],
        "properties": {
            "items": {"type": "array", "items": ref(item)},
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


def a(noun: str) -> str:
    """The noun with its indefinite article: "an asset", "a policy"."""
    return ("an " if noun[:1].lower() in "aeio" else "a ") + noun


def either(words: list[str]) -> str:
    """ "suspend, resume or terminate"."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def crud(name: str, schema: str, tag: str, updatable: bool = True) -> dict[str, Any]:
    item: dict[str, Any] = {
        "get": {
            "tags": [tag],
            "operationId": f"get{schema}",
            "summary": f"Get {a(name)}",
            "parameters": ID,
            "responses": {**ok(schema), **problems("404")},
        },
        "delete": {
            "tags": [tag],
            "operationId": f"delete{schema}",
            "summary": f"Delete {a(name)}",
            "parameters": ID,
            "responses": {"204": {"description": "Deleted"}, **problems("404", "409")},
        },
    }
    if updatable:
        item["put"] = {
            "tags": [tag],
            "operationId": f"replace{schema}",
            "summary": f"Replace {a(name)}",
            "parameters": ID,
            "requestBody": body(schema),
            "responses": {**ok(schema), **problems("400", "409")},
        }
    return item


def collection(name: str, plural: str, schema: str, tag: str) -> dict[str, Any]:
    return {
        "get": {
            "tags": [tag],
            "operationId": f"list{plural[:1].upper()}{plural[1:]}",
            "summary": f"List {plural}",
            "parameters": PAGING,
            "responses": {**ok(page_of(schema)), **problems("400")},
        },
        "post": {
            "tags": [tag],
            "operationId": f"create{schema}",
            "summary": f"Create {a(name)}",
            "requestBody": body(schema),
            "responses": {**ok(schema, "201", "Created"), **problems("400", "409")},
        },
    }


def command(
    tag: str, name: str, actions: list[str], schema: str, fields: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """`POST .../{id}/{action}` on a process called `name` (negotiation, transfer); `fields` beside `reason`."""
    words = either(actions)
    properties = {"reason": {"type": "string"}, **(fields or {})}
    return {
        "post": {
            "tags": [tag],
            "operationId": f"actOn{schema}",
            "summary": f"{words[:1].upper()}{words[1:]} {a(name)}",
            "parameters": ID
            + [{"name": "action", "in": "path", "required": True, "schema": {"type": "string", "enum": actions}}],
            "requestBody": {
                "required": False,
                "content": {JSON: {"schema": {"type": "object", "properties": properties}}},
            },
            "responses": {**ok(schema), **problems("404", "409")},
        }
    }


PROBLEM_SCHEMA: dict[str, Any] = {
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
}


@dataclass(frozen=True)
class ApiSection:
    """Part of the management API's description: path items by path, and the schemas they refer to."""

    paths: Mapping[str, Any] = field(default_factory=dict)
    schemas: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RouteGroup:
    """Management routes served together, with their description."""

    routes: Sequence[web.AbstractRouteDef]
    api: ApiSection = ApiSection()


def document(sections: Sequence[ApiSection]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = dict(PROBLEM_SCHEMA)
    for section in sections:
        paths.update(section.paths)
        schemas.update(section.schemas)
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
            "schemas": schemas,
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}},
        },
    }


def serving(sections: Callable[[], Sequence[ApiSection]]) -> RouteGroup:
    """`GET /v1/openapi.json`: the document of `sections()` (gathered at the first request) and of itself."""
    own = ApiSection(
        paths={
            "/v1/openapi.json": {
                "get": {
                    "tags": ["meta"],
                    "operationId": "getOpenApiDocument",
                    "summary": "Get this OpenAPI document",
                    "security": [],
                    "responses": {"200": {"description": "OpenAPI 3.1 document"}},
                }
            }
        }
    )
    made: list[dict[str, Any]] = []

    async def serve(request: web.Request) -> web.Response:
        if not made:
            made.append(document([*sections(), own]))
        return web.json_response(made[0])

    return RouteGroup([web.get("/v1/openapi.json", serve)], own)
