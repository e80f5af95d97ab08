"""`GET /.well-known/dspace-version`: which DSP versions this node speaks, where, and how callers authenticate."""

from __future__ import annotations

from aiohttp import web

from connector.node.appkeys import NODE
from connector.node.runtime import DSP_BASE_PATH
from connector.web.middleware import open_route


def version_document(service_id: str, identifier_type: str = "did:web") -> dict:
    return {
        "protocolVersions": [
            {
                "version": "2025-1",
                "path": DSP_BASE_PATH,
                "binding": "HTTPS",
                "serviceId": service_id,
                "identifierType": identifier_type,
                "auth": {"protocol": "DCP", "version": "1.0", "profile": ["vc20-bssl/jwt"]},
            }
        ]
    }


@open_route
async def dspace_version(request: web.Request) -> web.Response:
    node = request.app[NODE]
    return web.json_response(version_document(f"{node.participant_id}#dsp"))


ROUTES = [web.get("/.well-known/dspace-version", dspace_version)]
