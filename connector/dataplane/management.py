"""The data plane's management side: what the consumer's command line asks of its own node while it pulls
(a fresh token, the seal check), and what either role can see of a transfer's flow."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from connector.errors import ConnectorError
from connector.web import inputs
from connector.web.openapi import ID, ApiSection, RouteGroup

if TYPE_CHECKING:
    from connector.dataplane.data_plane import DataPlane

PROBLEM = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}

SCHEMAS: dict[str, Any] = {
    "PullAccess": {
        "type": "object",
        "description": "Where and how to pull a transfer's data now",
        "properties": {
            "transferId": {"type": "string"},
            "providerPid": {"type": "string"},
            "consumerPid": {"type": "string"},
            "agreementId": {"type": "string"},
            "datasetId": {"type": "string"},
            "providerId": {"type": "string"},
            "endpoint": {"type": "string"},
            "authorization": {"type": "string", "description": "The token"},
            "authorizationHeader": {
                "type": "string",
                "description": "The Authorization header to send, as the data address says (Bearer <token>, or "
                "the bare token for an EDC data plane)",
            },
            "sealEndpoint": {
                "type": ["string", "null"],
                "description": "Where the provider's seal is served; null: the provider does not seal",
            },
            "expiresAt": {"type": ["string", "null"]},
            "delivered": {
                "type": "boolean",
                "description": "The provider delivered the data in full: no fresh token is given, the one held "
                "still fetches the seal, and no further pull is served (the transfer's one use is spent)",
            },
            "trustAnchors": {
                "type": "array",
                "items": {"type": "string"},
                "description": "PEM CA certificates",
            },
        },
    },
    "SealReport": {
        "type": "object",
        "required": ["seal", "sha256", "size"],
        "properties": {
            "seal": {
                "type": ["object", "null"],
                "description": "The seal as the provider served it; null when the provider's data address offers "
                "none (recorded as unsealed unless [evidence] require_seals)",
            },
            "sha256": {"type": "string", "description": "Hex SHA-256 of the bytes received"},
            "size": {"type": "integer"},
        },
    },
    "SealVerdict": {
        "type": "object",
        "properties": {
            "verified": {"type": "boolean"},
            "sealed": {"type": "boolean", "description": "false: received from a provider that does not seal"},
            "sha256": {"type": "string"},
            "size": {"type": "integer"},
            "kid": {"type": "string"},
            "issuer": {"type": "string"},
            "issuedAt": {"type": "string"},
            "signerSha256": {"type": "string"},
            "anchor": {"type": "string"},
            "verifiedAt": {"type": "string"},
        },
    },
    "DataFlow": {"type": "object", "description": "The data plane's view of a transfer"},
}

PATHS: dict[str, Any] = {
    "/v1/transfers/{id}/token": {
        "post": {
            "tags": ["transfers"],
            "operationId": "getPullAccess",
            "summary": "Get the data endpoint of a pull transfer with a fresh token (as consumer)",
            "parameters": ID,
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PullAccess"}}},
                },
                "409": {"description": "The transfer is not STARTED", **PROBLEM},
            },
        }
    },
    "/v1/transfers/{id}/seal": {
        "post": {
            "tags": ["transfers"],
            "operationId": "reportSeal",
            "summary": "Report the digest and the provider's seal of pulled data (as consumer)",
            "description": "The seal is verified and kept, or the transfer is terminated with the reason.",
            "parameters": ID,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SealReport"}}},
            },
            "responses": {
                "200": {
                    "description": "Verified and kept",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SealVerdict"}}},
                },
                "400": {"description": "Refused: the transfer was terminated", **PROBLEM},
            },
        }
    },
    "/v1/transfers/{id}/flow": {
        "get": {
            "tags": ["transfers"],
            "operationId": "getDataFlow",
            "summary": "Get the data plane's view of a transfer (token, bytes, seal, streams)",
            "parameters": ID,
            "responses": {
                "200": {
                    "description": "OK",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DataFlow"}}},
                },
                "404": {"description": "Not found", **PROBLEM},
            },
        }
    },
}


class DataRoutes:
    """`plane` None: a node without a data plane (no TLS identity) answers these routes with the reason."""

    def __init__(self, plane: DataPlane | None) -> None:
        self._plane = plane

    @property
    def plane(self) -> DataPlane:
        if self._plane is None:
            raise ConnectorError("dataplane.unavailable", "this node runs no data plane (it has no TLS identity)")
        return self._plane

    def group(self) -> RouteGroup:
        return RouteGroup(
            [
                web.post("/v1/transfers/{id}/token", self.transfer_token),
                web.post("/v1/transfers/{id}/seal", self.transfer_seal),
                web.get("/v1/transfers/{id}/flow", self.transfer_flow),
            ],
            ApiSection(PATHS, SCHEMAS),
        )

    async def transfer_token(self, request: web.Request) -> web.Response:
        """Consumer, pull: the data endpoint with a current token (fresh from the provider), for the puller."""
        plane = self.plane
        return web.json_response(
            await plane.consumer.fresh_access(request.match_info["id"]), headers={"Cache-Control": "no-store"}
        )

    async def transfer_seal(self, request: web.Request) -> web.Response:
        """Consumer, pull: the digest of the data received and the provider's seal; verified and kept, or the
        transfer is terminated with the reason."""
        plane = self.plane
        body = await inputs.body_object(request)
        inputs.unknown_keys(body, ("seal", "sha256", "size"))
        return web.json_response(await plane.consumer.accept_pulled_seal(request.match_info["id"], body))

    async def transfer_flow(self, request: web.Request) -> web.Response:
        """Either role: what the data plane knows of a transfer (token expiry, bytes, the seal, open streams)."""
        return web.json_response(await self.plane.flow_view(request.match_info["id"]))
