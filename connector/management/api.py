"""The management API's routes, gathered in one place (`/v1/...`, plus the OpenAPI document)."""

from __future__ import annotations

from aiohttp import web

from connector.management import openapi, processes, resources


def routes() -> list[web.RouteDef]:
    return resources.routes() + processes.routes() + openapi.routes()
