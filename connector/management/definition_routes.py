"""Management API: what this node offers (assets, policies, offers), as three collections of one shape.

Every input is validated before anything is stored (control.definitions), with errors that name the offending
field; every change invalidates the catalogue so that peers see it at their next request.

One rule keeps configuration and API from fighting: an id defined in the configuration file belongs to it (the
node writes it again at each start), so the API refuses to replace or delete it, with a 409 that names the file
and the key; ids the configuration does not name are the API's alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from connector.control.definitions import asset_from_json, offer_from_json, policy_from_json
from connector.control.seeds import Seeds
from connector.errors import ConnectorError
from connector.records.columns import utcnow
from connector.store.interface import Store
from connector.store.sql import definitions as repo
from connector.web import inputs
from connector.web.openapi import RouteGroup


@dataclass(frozen=True)
class Collection:
    """One kind of definition: where it lives, how it is read from JSON and stored."""

    name: str  # singular, as errors say it
    path: str
    parse: Callable[[Mapping[str, Any], str | None], Any]  # (body, id from the path or None) -> record
    list_all: Callable[..., Any]
    get: Callable[..., Any]
    insert: Callable[..., Any]
    delete: Callable[..., Any]
    upsert: Callable[..., Any] | None = None  # None: not replaceable (offers are deleted and created again)
    section: str = ""  # where the configuration defines them ([[assets]], ...)
    vetted: bool = False  # checked by the routes' `vet_asset` before it is stored


# Refuses (raises ConnectorError) a record that may not be stored: an asset offering data the node may not offer.
Vet = Callable[[Any], Awaitable[None]]


class DefinitionRoutes:
    def __init__(
        self,
        store: Store,
        changed: Callable[[], None],
        regions: Mapping[str, frozenset[str]] | None = None,
        configured: Seeds | None = None,
        config_file: Path | None = None,
        vet_asset: Vet | None = None,
        roots: Iterable[str] | None = None,  # the names of the node's data roots (None: not checked)
    ) -> None:
        self.store = store
        self.changed = changed  # the catalogue must be rebuilt
        known_roots = None if roots is None else frozenset(roots)
        self.vet_asset = vet_asset
        regions = regions or {}
        seeds = configured or Seeds()
        # id -> its key in the configuration, per collection
        self.configured: dict[str, dict[str, str]] = {
            "assets": {item.id: f"assets[{i}]" for i, item in enumerate(seeds.assets)},
            "policies": {item.id: f"policies[{i}]" for i, item in enumerate(seeds.policies)},
            "offers": {item.id: f"offers[{i}]" for i, item in enumerate(seeds.offers)},
        }
        self.config_file = config_file
        self.collections = (
            Collection(
                "asset",
                "/v1/assets",
                lambda body, asset_id: asset_from_json(body, asset_id, known_roots),
                repo.list_assets,
                repo.get_asset,
                repo.insert_asset,
                repo.delete_asset,
                repo.upsert_asset,
                "assets",
                vetted=True,
            ),
            Collection(
                "policy",
                "/v1/policies",
                lambda body, pid: policy_from_json(body, pid, regions=regions),
                repo.list_policies,
                repo.get_policy,
                repo.insert_policy,
                repo.delete_policy,
                repo.upsert_policy,
                "policies",
            ),
            Collection(
                "offer",
                "/v1/offers",
                lambda body, _: offer_from_json(body),
                repo.list_offers,
                repo.get_offer,
                repo.insert_offer,
                repo.delete_offer,
                section="offers",
            ),
        )

    def group(self) -> RouteGroup:
        routes: list[web.RouteDef] = []
        for c in self.collections:
            routes += [
                web.get(c.path, self._lister(c)),
                web.post(c.path, self._creator(c)),
                web.get(c.path + "/{id}", self._getter(c)),
            ]
            if c.upsert is not None:
                routes.append(web.put(c.path + "/{id}", self._replacer(c)))
            routes.append(web.delete(c.path + "/{id}", self._deleter(c)))
        return RouteGroup(routes)

    async def _vet(self, c: Collection, record: Any) -> None:
        if c.vetted and self.vet_asset is not None:
            await self.vet_asset(record)

    def _lister(self, c: Collection) -> Any:
        async def handler(request: web.Request) -> web.Response:
            p = inputs.page(request)
            items, total = await self.store.read(c.list_all, p.limit, p.offset)
            return p.response(request, [x.to_api() for x in items], total)

        return handler

    def _creator(self, c: Collection) -> Any:
        async def handler(request: web.Request) -> web.Response:
            record = c.parse(await inputs.body_object(request), None)
            await self._vet(c, record)
            await self.store.run(c.insert, record)
            self.changed()
            return web.json_response(record.to_api(), status=201, headers={"Location": f"{c.path}/{record.id}"})

        return handler

    def _getter(self, c: Collection) -> Any:
        async def handler(request: web.Request) -> web.Response:
            record = await self.store.read(c.get, request.match_info["id"])
            if record is None:
                raise ConnectorError(f"{c.name}.not_found", f"no {c.name} '{request.match_info['id']}'")
            return web.json_response(record.to_api())

        return handler

    def _not_configured(self, c: Collection, item_id: str, change: str) -> None:
        """Refuse to `change` an item the configuration defines: it would be written back at the next start."""
        key = self.configured.get(c.section, {}).get(item_id)
        if key is None:
            return
        where = f"{self.config_file} ({key})" if self.config_file is not None else f"the configuration ({key})"
        raise ConnectorError(
            f"{c.name}.conflict",
            f"{c.name} '{item_id}' is defined in {where}, which the node applies at every start: {change} it "
            "there and restart the node (the API manages only the ids the configuration does not name)",
            "id",
            configured=key,
        )

    def _replacer(self, c: Collection) -> Any:
        assert c.upsert is not None
        upsert = c.upsert

        async def handler(request: web.Request) -> web.Response:
            self._not_configured(c, request.match_info["id"], "change")
            body = await inputs.body_object(request)
            if "id" in body and body["id"] != request.match_info["id"]:
                raise ConnectorError(f"{c.name}.invalid", "the id in the body differs from the one in the path", "id")
            record = c.parse({k: v for k, v in body.items() if k != "id"}, request.match_info["id"])
            await self._vet(c, record)
            await self.store.run(upsert, dataclasses.replace(record, updated_at=utcnow()))
            self.changed()
            return web.json_response(record.to_api())

        return handler

    def _deleter(self, c: Collection) -> Any:
        async def handler(request: web.Request) -> web.Response:
            self._not_configured(c, request.match_info["id"], "remove")
            await self.store.run(c.delete, request.match_info["id"])
            self.changed()
            return web.Response(status=204)

        return handler
