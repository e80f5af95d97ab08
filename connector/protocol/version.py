"""`GET /.well-known/dspace-version`: which DSP versions this node speaks, where, and how callers authenticate.

Callers authenticate with DCP 1.0: a self-issued ID token in ``Authorization: Bearer``, carrying an access token
for the caller's credential service, whose presentations may follow either credential profile (`profile`). The
DSP schema leaves the `auth` object open; `clientCertificate` says whether the DSP routes also need a client
certificate from a recognised authority (``required``: the token must be bound to it) or accept a caller
authenticated by DCP alone (``optional``, as EDC connectors call).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from connector.dsp.versions import DSP_BASE_PATH, version_response
from connector.web.middleware import open_route

DCP_PROFILES = ("vc20-bssl/jwt", "vc11-sl2021/jwt")


def auth_document(client_certificate: str = "required") -> dict[str, Any]:
    return {"protocol": "DCP", "version": "1.0", "profile": list(DCP_PROFILES), "clientCertificate": client_certificate}


def version_routes(participant_id: str, client_certificate: str = "required") -> list[web.RouteDef]:
    body = version_response(DSP_BASE_PATH, service_id=f"{participant_id}#dsp", auth=auth_document(client_certificate))

    @open_route
    async def dspace_version(request: web.Request) -> web.Response:
        return web.json_response(body)

    return [web.get("/.well-known/dspace-version", dspace_version)]
