"""`GET /.well-known/dspace-version`: which DSP versions this node speaks, where, and how callers authenticate."""

from __future__ import annotations

from aiohttp import web

from connector.dsp.versions import DSP_BASE_PATH, version_response
from connector.web.middleware import open_route

AUTH = {"protocol": "DCP", "version": "1.0", "profile": ["vc20-bssl/jwt"]}


def version_routes(participant_id: str) -> list[web.RouteDef]:
    body = version_response(DSP_BASE_PATH, service_id=f"{participant_id}#dsp", auth=AUTH)

    @open_route
    async def dspace_version(request: web.Request) -> web.Response:
        return web.json_response(body)

    return [web.get("/.well-known/dspace-version", dspace_version)]
