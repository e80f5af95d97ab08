"""Management API: what this node offers (assets, policies, offers).

Every input is validated before anything is stored, with errors that name the offending field: an asset's
source by the data plane's source validators, a policy by the ODRL engine (the same JSON that goes on the wire).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from connector.control import repository as repo
from connector.control.records import Asset, OfferDefinition, PolicyDefinition, utcnow
from connector.errors import ConnectorError
from connector.management import inputs
from connector.node.appkeys import NODE

ASSET_FIELDS = ("id", "title", "description", "keywords", "mediaType", "formats", "source", "properties")
POLICY_FIELDS = ("id", "description", "policy")
OFFER_FIELDS = ("id", "assetId", "contractPolicyId", "accessPolicyId")
FORMATS = ("HttpData-PULL", "HttpData-PUSH")


def validate_source(source: Mapping[str, Any], where: str = "source") -> None:
    from connector.dataplane.sources import validate_source_config

    problems = validate_source_config(dict(source))
    if problems:
        first = problems[0]
        field = f"{where}.{first.where}" if first.where else where
        raise ConnectorError("asset.invalid_source", first.reason, field)


def _wire_shape_problems(policy: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What the DSP 2025-1 schema forbids in a policy that the ODRL engine alone would accept: a right operand
    must be a string, an object or an array (so `"5"`, not `5`), else peers refuse our catalogue."""
    found: list[tuple[str, str]] = []

    def walk(constraints: Any, path: str) -> None:
        for i, c in enumerate(constraints if isinstance(constraints, list) else []):
            here = f"{path}[{i}]"
            if not isinstance(c, dict):
                continue
            for op in ("and", "or", "xone", "andSequence"):
                if op in c:
                    walk(c[op], f"{here}.{op}")
            if "rightOperand" in c and not isinstance(c["rightOperand"], (str, dict, list)):
                found.append(
                    (
                        f"{here}.rightOperand",
                        "a right operand must be a string, an object or an array on "
                        f'the wire (DSP 2025-1): write "{c["rightOperand"]}", not {c["rightOperand"]}',
                    )
                )

    for kind in ("permission", "prohibition", "obligation"):
        for r, rule in enumerate(policy.get(kind) or []):
            if isinstance(rule, dict):
                walk(rule.get("constraint"), f"{kind}[{r}].constraint")
                for d, duty in enumerate(rule.get("duty") or []):
                    if isinstance(duty, dict):
                        walk(duty.get("constraint"), f"{kind}[{r}].duty[{d}].constraint")
    return found


def validate_policy_json(
    policy: Mapping[str, Any], where: str = "policy", regions: Mapping[str, frozenset[str]] | None = None
) -> None:
    from connector.policy import validate_policy

    for field, reason in _wire_shape_problems(policy):
        raise ConnectorError("policy.invalid", reason, f"{where}.{field}")
    problems = validate_policy(dict(policy), regions)
    if problems:
        first = problems[0]
        field = f"{where}.{first.where}" if first.where else where
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConnectorError(
            "policy.invalid",
            first.reason + more,
            field,
            problems=[{"where": p.where, "reason": p.reason} for p in problems],
        )


def asset_from_json(body: Mapping[str, Any], asset_id: str | None = None) -> Asset:
    inputs.unknown_keys(body, ASSET_FIELDS)
    aid = asset_id or inputs.identifier(body)
    source = inputs.obj(body, "source")
    assert source is not None
    validate_source(source)
    formats = inputs.string_list(body, "formats", ("HttpData-PULL",))
    for i, fmt in enumerate(formats):
        if fmt not in FORMATS:
            raise ConnectorError(
                "asset.invalid", f"unknown format '{fmt}' (known: {', '.join(FORMATS)})", f"formats[{i}]"
            )
    if not formats:
        raise ConnectorError("asset.invalid", "at least one format is needed", "formats")
    return Asset(
        id=aid,
        title=inputs.string(body, "title", False, "") or "",
        description=inputs.string(body, "description", False, "") or "",
        keywords=inputs.string_list(body, "keywords"),
        media_type=inputs.string(body, "mediaType", False, "application/octet-stream") or "application/octet-stream",
        formats=formats,
        source=source,
        properties=inputs.obj(body, "properties", False) or {},
    )


def policy_from_json(
    body: Mapping[str, Any], policy_id: str | None = None, regions: Mapping[str, frozenset[str]] | None = None
) -> PolicyDefinition:
    inputs.unknown_keys(body, POLICY_FIELDS)
    pid = policy_id or inputs.identifier(body)
    policy = inputs.obj(body, "policy")
    assert policy is not None
    validate_policy_json(policy, regions=regions)
    return PolicyDefinition(id=pid, policy=policy, description=inputs.string(body, "description", False, "") or "")


def offer_from_json(body: Mapping[str, Any]) -> OfferDefinition:
    inputs.unknown_keys(body, OFFER_FIELDS)
    return OfferDefinition(
        id=inputs.identifier(body),
        asset_id=inputs.identifier(body, "assetId"),
        contract_policy_id=inputs.identifier(body, "contractPolicyId"),
        access_policy_id=inputs.string(body, "accessPolicyId", False),
    )


def _changed(request: web.Request) -> None:
    request.app[NODE].control.catalog.invalidate()


# --- assets -----------------------------------------------------------------------------------------------------


async def list_assets(request: web.Request) -> web.Response:
    p = inputs.page(request)
    items, total = await request.app[NODE].store.read(repo.list_assets, p.limit, p.offset)
    return p.response(request, [a.to_api() for a in items], total)


async def create_asset(request: web.Request) -> web.Response:
    asset = asset_from_json(await inputs.body_object(request))
    await request.app[NODE].store.run(repo.insert_asset, asset)
    _changed(request)
    return web.json_response(asset.to_api(), status=201, headers={"Location": f"/v1/assets/{asset.id}"})


async def get_asset(request: web.Request) -> web.Response:
    asset = await request.app[NODE].store.read(repo.get_asset, request.match_info["id"])
    if asset is None:
        raise ConnectorError("asset.not_found", f"no asset '{request.match_info['id']}'")
    return web.json_response(asset.to_api())


async def put_asset(request: web.Request) -> web.Response:
    body = await inputs.body_object(request)
    if "id" in body and body["id"] != request.match_info["id"]:
        raise ConnectorError("asset.invalid", "the id in the body differs from the one in the path", "id")
    asset = asset_from_json({k: v for k, v in body.items() if k != "id"}, request.match_info["id"])
    await request.app[NODE].store.run(repo.upsert_asset, dataclasses.replace(asset, updated_at=utcnow()))
    _changed(request)
    return web.json_response(asset.to_api())


async def delete_asset(request: web.Request) -> web.Response:
    await request.app[NODE].store.run(repo.delete_asset, request.match_info["id"])
    _changed(request)
    return web.Response(status=204)


# --- policies ---------------------------------------------------------------------------------------------------


async def list_policies(request: web.Request) -> web.Response:
    p = inputs.page(request)
    items, total = await request.app[NODE].store.read(repo.list_policies, p.limit, p.offset)
    return p.response(request, [x.to_api() for x in items], total)


def _regions(request: web.Request) -> Mapping[str, frozenset[str]]:
    return request.app[NODE].config.extra.get("regions", {})


async def create_policy(request: web.Request) -> web.Response:
    policy = policy_from_json(await inputs.body_object(request), regions=_regions(request))
    await request.app[NODE].store.run(repo.insert_policy, policy)
    _changed(request)
    return web.json_response(policy.to_api(), status=201, headers={"Location": f"/v1/policies/{policy.id}"})


async def get_policy(request: web.Request) -> web.Response:
    policy = await request.app[NODE].store.read(repo.get_policy, request.match_info["id"])
    if policy is None:
        raise ConnectorError("policy.not_found", f"no policy '{request.match_info['id']}'")
    return web.json_response(policy.to_api())


async def put_policy(request: web.Request) -> web.Response:
    body = await inputs.body_object(request)
    if "id" in body and body["id"] != request.match_info["id"]:
        raise ConnectorError("policy.invalid", "the id in the body differs from the one in the path", "id")
    policy = policy_from_json(
        {k: v for k, v in body.items() if k != "id"}, request.match_info["id"], regions=_regions(request)
    )
    await request.app[NODE].store.run(repo.upsert_policy, dataclasses.replace(policy, updated_at=utcnow()))
    _changed(request)
    return web.json_response(policy.to_api())


async def delete_policy(request: web.Request) -> web.Response:
    await request.app[NODE].store.run(repo.delete_policy, request.match_info["id"])
    _changed(request)
    return web.Response(status=204)


# --- offers -----------------------------------------------------------------------------------------------------


async def list_offers(request: web.Request) -> web.Response:
    p = inputs.page(request)
    items, total = await request.app[NODE].store.read(repo.list_offers, p.limit, p.offset)
    return p.response(request, [x.to_api() for x in items], total)


async def create_offer(request: web.Request) -> web.Response:
    offer = offer_from_json(await inputs.body_object(request))
    await request.app[NODE].store.run(repo.insert_offer, offer)
    _changed(request)
    return web.json_response(offer.to_api(), status=201, headers={"Location": f"/v1/offers/{offer.id}"})


async def get_offer(request: web.Request) -> web.Response:
    offer = await request.app[NODE].store.read(repo.get_offer, request.match_info["id"])
    if offer is None:
        raise ConnectorError("offer.not_found", f"no offer '{request.match_info['id']}'")
    return web.json_response(offer.to_api())


async def delete_offer(request: web.Request) -> web.Response:
    await request.app[NODE].store.run(repo.delete_offer, request.match_info["id"])
    _changed(request)
    return web.Response(status=204)


def routes() -> list[web.RouteDef]:
    return [
        web.get("/v1/assets", list_assets),
        web.post("/v1/assets", create_asset),
        web.get("/v1/assets/{id}", get_asset),
        web.put("/v1/assets/{id}", put_asset),
        web.delete("/v1/assets/{id}", delete_asset),
        web.get("/v1/policies", list_policies),
        web.post("/v1/policies", create_policy),
        web.get("/v1/policies/{id}", get_policy),
        web.put("/v1/policies/{id}", put_policy),
        web.delete("/v1/policies/{id}", delete_policy),
        web.get("/v1/offers", list_offers),
        web.post("/v1/offers", create_offer),
        web.get("/v1/offers/{id}", get_offer),
        web.delete("/v1/offers/{id}", delete_offer),
    ]
