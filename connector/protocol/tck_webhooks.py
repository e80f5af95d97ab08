"""Conformance-test profile only: the two webhooks through which the TCK asks the node, as consumer, to start a
negotiation or a transfer with the TCK's own connector (TCK.md section 3.3)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from connector.control.control_plane import ControlPlane
from connector.errors import ConnectorError
from connector.web.middleware import open_route


async def _body(request: web.Request, keys: tuple[str, ...]) -> dict[str, Any]:
    try:
        body = json.loads(await request.text())
    except ValueError:
        raise ConnectorError("tck.invalid", "the body is not JSON") from None
    if not isinstance(body, dict):
        raise ConnectorError("tck.invalid", "the body must be a JSON object")
    for key in keys:
        if not isinstance(body.get(key), str) or not body[key]:
            raise ConnectorError("tck.invalid", f"'{key}' is required", key)
    return body


def _error(exc: ConnectorError) -> web.Response:
    return web.json_response({"code": exc.code, "reason": exc.reason, "where": exc.where}, status=400)


def tck_routes(control: ControlPlane) -> list[web.RouteDef]:
    @open_route
    async def start_negotiation(request: web.Request) -> web.Response:
        try:
            body = await _body(request, ("providerId", "offerId", "datasetId", "connectorAddress"))
        except ConnectorError as exc:
            return _error(exc)
        # The offer id is used verbatim: the TCK derives the dataset from it.
        offer = {
            "@id": body["offerId"],
            "@type": "Offer",
            "target": body["datasetId"],
            "permission": [{"action": "use"}],
        }
        neg = await control.start_negotiation(body["providerId"], body["connectorAddress"], offer, body["datasetId"])
        return web.json_response({"negotiationId": neg.id}, status=200)

    @open_route
    async def start_transfer(request: web.Request) -> web.Response:
        try:
            body = await _body(request, ("providerId", "agreementId", "format", "connectorAddress"))
        except ConnectorError as exc:
            return _error(exc)
        tp = await control.start_transfer(
            body["agreementId"], body["format"], None, body["providerId"], body["connectorAddress"]
        )
        return web.json_response({"transferId": tp.id}, status=200)

    return [web.post("/tck/negotiations", start_negotiation), web.post("/tck/transfers", start_transfer)]
