"""Management API: talking to peers (catalogue requests) and the processes that follow (negotiations,
agreements, transfers), each with its full history so that a stuck or failed process explains itself."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from connector.control import negotiations, transfers
from connector.control import repository as repo
from connector.errors import ConnectorError
from connector.management import inputs
from connector.node.appkeys import NODE

NEGOTIATION_FIELDS = ("peer", "counterPartyAddress", "counterPartyId", "offerId", "datasetId", "offer", "purpose")
TRANSFER_FIELDS = ("agreementId", "format", "dataDestination")


def resolve_peer(request: web.Request, body: Mapping[str, Any]) -> tuple[str, str | None]:
    """(DSP address, participant id or None) from `peer` (a configured name) or `counterPartyAddress`."""
    node = request.app[NODE]
    name = inputs.string(body, "peer", required=False)
    if name is not None:
        peer = node.config.peer(name)
        if peer is None:
            known = ", ".join(p.name for p in node.config.peers) or "none configured"
            raise ConnectorError(
                "peer.unknown", f"no peer named '{name}' in the configuration (known: {known})", "peer"
            )
        return peer.address, peer.participant_id or None
    address = inputs.string(body, "counterPartyAddress", required=False)
    if address is None:
        raise ConnectorError(
            "request.missing", "give 'peer' (a configured name) or 'counterPartyAddress'", "counterPartyAddress"
        )
    if not address.startswith(("https://", "http://")):
        raise ConnectorError(
            "request.invalid", "'counterPartyAddress' must be the peer's DSP base URL", "counterPartyAddress"
        )
    return address.rstrip("/"), inputs.string(body, "counterPartyId", required=False)


def _summary(catalog: Any) -> list[dict[str, Any]]:
    out = []
    for dataset in catalog.datasets:
        ext = dict(dataset.extensions or {})
        out.append(
            {
                "id": dataset.id,
                "title": ext.get("dct:title") or ext.get("title"),
                "description": ext.get("dct:description") or ext.get("description"),
                "formats": sorted({d.format for d in dataset.distributions}),
                "offers": [dict(o) for o in dataset.has_policy],
            }
        )
    return out


async def catalog_request(request: web.Request) -> web.Response:
    body = await inputs.body_object(request)
    inputs.unknown_keys(body, ("peer", "counterPartyAddress", "counterPartyId"))
    address, peer_id = resolve_peer(request, body)
    catalog = await request.app[NODE].control.catalog.fetch(address, peer_id)
    return web.json_response(
        {
            "participantId": catalog.participant_id,
            "address": address,
            "datasets": _summary(catalog),
            "catalog": catalog.to_json(),
        }
    )


# --- negotiations -----------------------------------------------------------------------------------------------


async def list_negotiations(request: web.Request) -> web.Response:
    p = inputs.page(request)
    items, total = await request.app[NODE].store.read(
        repo.list_negotiations, p.limit, p.offset, request.query.get("state"), request.query.get("role")
    )
    return p.response(request, [n.to_api() for n in items], total)


async def start_negotiation(request: web.Request) -> web.Response:
    node = request.app[NODE]
    body = await inputs.body_object(request)
    inputs.unknown_keys(body, NEGOTIATION_FIELDS)
    address, peer_id = resolve_peer(request, body)
    offer_id = inputs.string(body, "offerId", required=False)
    dataset_id = inputs.string(body, "datasetId", required=False)
    purpose = inputs.string(body, "purpose", required=False)
    offer = inputs.obj(body, "offer", required=False)
    if peer_id is None and address.startswith("https:"):
        peer_id = await node.control.catalog.identify(address)
    if offer is None:
        if offer_id is None:
            raise ConnectorError(
                "request.missing", "give 'offerId' (and ideally 'datasetId') or a full 'offer'", "offerId"
            )
        offer, dataset_id, learned = await _find_offer(node, address, peer_id, offer_id, dataset_id)
        peer_id = peer_id or learned
    else:
        dataset_id = dataset_id or offer.get("target")
        if not isinstance(offer.get("@id"), str):
            raise ConnectorError("request.invalid", "the offer needs an '@id'", "offer.@id")
    if not dataset_id:
        raise ConnectorError(
            "request.missing", "the dataset the offer is for is unknown; give 'datasetId'", "datasetId"
        )
    if not peer_id:
        raise ConnectorError(
            "request.missing", "the provider's participant id is unknown; give 'counterPartyId'", "counterPartyId"
        )
    neg = await node.control.command("negotiation", negotiations.start, peer_id, address, offer, dataset_id, purpose)
    return web.json_response(neg.to_api(), status=201, headers={"Location": f"/v1/negotiations/{neg.id}"})


async def _find_offer(
    node: Any, address: str, peer_id: str | None, offer_id: str, dataset_id: str | None
) -> tuple[dict[str, Any], str, str | None]:
    if dataset_id is not None:
        dataset = await node.control.catalog.fetch_dataset(address, peer_id, dataset_id)
        candidates = [(dataset, o) for o in dataset.has_policy]
        learned = peer_id
    else:
        catalog = await node.control.catalog.fetch(address, peer_id)
        candidates = [(d, o) for d in catalog.datasets for o in d.has_policy]
        learned = catalog.participant_id
    for dataset, offer in candidates:
        if offer.get("@id") == offer_id:
            return {**dict(offer), "target": dataset.id}, dataset.id, learned
    raise ConnectorError(
        "offer.not_found",
        f"the peer offers no '{offer_id}' to this node" + (f" for dataset '{dataset_id}'" if dataset_id else ""),
        "offerId",
    )


async def _wait(request: web.Request, load: Any, pid: str) -> Any:
    """`?wait=STATE,STATE&timeout=S`: answer once the process is in one of the states (or the time is up)."""
    node = request.app[NODE]
    wanted = {s.strip().upper() for s in request.query.get("wait", "").split(",") if s.strip()}
    try:
        timeout = min(float(request.query.get("timeout", "30")), 300.0)
    except ValueError:
        raise ConnectorError("request.invalid", "'timeout' must be a number of seconds", "timeout") from None
    deadline = time.monotonic() + timeout
    engine = node.control.engine
    with engine.following(pid) as follow:
        changed = follow.changed  # taken before reading, so that no change after the read goes unnoticed
        record = await node.store.read(load, pid)
        while True:
            if record is None:
                return None
            if not wanted or str(record.state) in wanted or record.is_terminal:
                return record
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return record
            woken = await engine.wait_for(changed, min(remaining, 5.0))
            changed = follow.changed
            if woken and follow.state is not None and follow.state not in wanted and not follow.terminal:
                continue  # it changed, into a state nobody here waits for: reading it would tell nothing new
            record = await node.store.read(load, pid)


@dataclass(frozen=True)
class _WithHistory:
    """A process record read together with its history (one read where the answer needs both)."""

    record: Any
    history: list[Any]

    @property
    def state(self) -> Any:
        return self.record.state

    @property
    def is_terminal(self) -> bool:
        return bool(self.record.is_terminal)

    def to_api(self) -> dict[str, Any]:
        return {**self.record.to_api(), "history": [h.to_api() for h in self.history]}


def _with_history(get: Any) -> Any:
    def load(db: Any, pid: str) -> _WithHistory | None:
        record = get(db, pid)
        return None if record is None else _WithHistory(record, repo.history(db, pid))

    return load


async def get_negotiation(request: web.Request) -> web.Response:
    pid = request.match_info["id"]
    neg = await _wait(request, _with_history(repo.get_negotiation), pid)
    if neg is None:
        raise ConnectorError("negotiation.not_found", f"no negotiation '{pid}'")
    return web.json_response(neg.to_api())


async def negotiation_command(request: web.Request) -> web.Response:
    node = request.app[NODE]
    body = await inputs.body_object(request) if request.can_read_body else {}
    inputs.unknown_keys(body, ("reason",))
    action = request.match_info["action"]
    neg = await node.control.command(
        "negotiation",
        negotiations.command,
        request.match_info["id"],
        action,
        inputs.string(body, "reason", required=False),
    )
    return web.json_response(neg.to_api())


# --- agreements -------------------------------------------------------------------------------------------------


async def list_agreements(request: web.Request) -> web.Response:
    p = inputs.page(request)
    items, total = await request.app[NODE].store.read(repo.list_agreements, p.limit, p.offset)
    return p.response(request, [a.to_api() for a in items], total)


async def get_agreement(request: web.Request) -> web.Response:
    agreement = await request.app[NODE].store.read(repo.get_agreement, request.match_info["id"])
    if agreement is None:
        raise ConnectorError("agreement.not_found", f"no agreement '{request.match_info['id']}'")
    return web.json_response(agreement.to_api())


# --- transfers --------------------------------------------------------------------------------------------------


async def list_transfers(request: web.Request) -> web.Response:
    p = inputs.page(request)
    items, total = await request.app[NODE].store.read(
        repo.list_transfers,
        p.limit,
        p.offset,
        request.query.get("state"),
        request.query.get("role"),
        request.query.get("agreementId"),
    )
    return p.response(request, [t.to_api() for t in items], total)


async def start_transfer(request: web.Request) -> web.Response:
    node = request.app[NODE]
    body = await inputs.body_object(request)
    inputs.unknown_keys(body, TRANSFER_FIELDS)
    agreement_id = inputs.string(body, "agreementId")
    fmt = inputs.string(body, "format", required=False, default="HttpData-PULL")
    destination = inputs.obj(body, "dataDestination", required=False)
    tp = await node.control.command("transfer", transfers.start, agreement_id, fmt, destination)
    return web.json_response(tp.to_api(), status=201, headers={"Location": f"/v1/transfers/{tp.id}"})


async def get_transfer(request: web.Request) -> web.Response:
    pid = request.match_info["id"]
    tp = await _wait(request, _with_history(repo.get_transfer), pid)
    if tp is None:
        raise ConnectorError("transfer.not_found", f"no transfer '{pid}'")
    return web.json_response(tp.to_api())


async def transfer_command(request: web.Request) -> web.Response:
    node = request.app[NODE]
    body = await inputs.body_object(request) if request.can_read_body else {}
    inputs.unknown_keys(body, ("reason",))
    tp = await node.control.command(
        "transfer",
        transfers.command,
        request.match_info["id"],
        request.match_info["action"],
        inputs.string(body, "reason", required=False),
    )
    return web.json_response(tp.to_api())


# --- the data of a transfer (the data plane's management side) ------------------------------------------------


def _dataplane(request: web.Request) -> Any:
    plane = request.app[NODE].dataplane
    if plane is None:
        raise ConnectorError("dataplane.unavailable", "this node runs no data plane (it has no TLS identity)")
    return plane


async def transfer_token(request: web.Request) -> web.Response:
    """Consumer, pull: the data endpoint with a current token (fresh from the provider), for the puller."""
    plane = _dataplane(request)
    return web.json_response(
        await plane.consumer.fresh_access(request.match_info["id"]), headers={"Cache-Control": "no-store"}
    )


async def transfer_seal(request: web.Request) -> web.Response:
    """Consumer, pull: the digest of the data received and the provider's seal; verified and kept, or the
    transfer is terminated with the reason."""
    plane = _dataplane(request)
    body = await inputs.body_object(request)
    inputs.unknown_keys(body, ("seal", "sha256", "size"))
    return web.json_response(await plane.consumer.accept_pulled_seal(request.match_info["id"], body))


async def transfer_flow(request: web.Request) -> web.Response:
    """Either role: what the data plane knows of a transfer (token expiry, bytes, the seal, open streams)."""
    return web.json_response(await _dataplane(request).flow_view(request.match_info["id"]))


def _document_data_routes() -> None:
    from connector.management import openapi

    problem = {"content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    openapi.EXTRA_SCHEMAS.update(
        {
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
                    "authorization": {"type": "string", "description": "Bearer token"},
                    "sealEndpoint": {"type": "string"},
                    "expiresAt": {"type": ["string", "null"]},
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
                    "seal": {"type": "object", "description": "The seal as the provider served it"},
                    "sha256": {"type": "string", "description": "Hex SHA-256 of the bytes received"},
                    "size": {"type": "integer"},
                },
            },
            "SealVerdict": {
                "type": "object",
                "properties": {
                    "verified": {"type": "boolean"},
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
    )
    openapi.EXTRA_PATHS.update(
        {
            "/v1/transfers/{id}/token": {
                "post": {
                    "tags": ["transfers"],
                    "summary": "Consumer, pull: the data endpoint with a fresh token",
                    "parameters": openapi.ID,
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PullAccess"}}},
                        },
                        "409": {"description": "The transfer is not STARTED", **problem},
                    },
                }
            },
            "/v1/transfers/{id}/seal": {
                "post": {
                    "tags": ["transfers"],
                    "summary": "Consumer, pull: report the data's digest and the provider's seal; "
                    "the seal is verified and kept, or the transfer is terminated with the reason",
                    "parameters": openapi.ID,
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SealReport"}}},
                    },
                    "responses": {
                        "200": {
                            "description": "Verified and kept",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SealVerdict"}}},
                        },
                        "400": {"description": "Refused: the transfer was terminated", **problem},
                    },
                }
            },
            "/v1/transfers/{id}/flow": {
                "get": {
                    "tags": ["transfers"],
                    "summary": "The data plane's view of a transfer (token, bytes, seal, streams)",
                    "parameters": openapi.ID,
                    "responses": {
                        "200": {
                            "description": "OK",
                            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/DataFlow"}}},
                        },
                        "404": {"description": "Not found", **problem},
                    },
                }
            },
        }
    )


_document_data_routes()


def routes() -> list[web.RouteDef]:
    return [
        web.post("/v1/catalog/request", catalog_request),
        web.get("/v1/negotiations", list_negotiations),
        web.post("/v1/negotiations", start_negotiation),
        web.get("/v1/negotiations/{id}", get_negotiation),
        web.post("/v1/negotiations/{id}/{action:terminate|accept}", negotiation_command),
        web.get("/v1/agreements", list_agreements),
        web.get("/v1/agreements/{id}", get_agreement),
        web.get("/v1/transfers", list_transfers),
        web.post("/v1/transfers", start_transfer),
        web.get("/v1/transfers/{id}", get_transfer),
        web.post("/v1/transfers/{id}/{action:suspend|resume|complete|terminate}", transfer_command),
        web.post("/v1/transfers/{id}/token", transfer_token),
        web.post("/v1/transfers/{id}/seal", transfer_seal),
        web.get("/v1/transfers/{id}/flow", transfer_flow),
    ]


__all__ = ["routes", "asyncio"]
