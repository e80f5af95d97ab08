"""Assets, policies and offers written in the node's configuration (`[[assets]]`, `[[policies]]`, `[[offers]]`),
and the named regions policies may use (`[regions]`).

They are read and checked before the node starts, by the same validators as the management API (so an error
names the key, e.g. `policies[1].policy.permission[0].constraint[0].operator`), and written to the store at each
start: the configuration is the source of truth for the ids it names, and the management API refuses to replace
or delete those (409, naming the file and key); other ids stay as the API left them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from connector.config import Config
from connector.control.definitions import asset_from_json, offer_from_json, policy_from_json
from connector.errors import ConfigError, ConnectorError
from connector.policy.regions import validate_regions
from connector.records.definitions import Asset, OfferDefinition, PolicyDefinition
from connector.store.sql import definitions as definitions_sql


@dataclass(frozen=True)
class Seeds:
    assets: tuple[Asset, ...] = ()
    policies: tuple[PolicyDefinition, ...] = ()
    offers: tuple[OfferDefinition, ...] = ()
    regions: Mapping[str, frozenset[str]] = field(default_factory=dict)


def definitions(config: Config) -> Seeds:
    """What the configuration defines, checked; raises ConfigError naming the key of the first problem."""
    raw = config.definitions
    regions = parse_regions(raw["regions"]) if "regions" in raw else {}
    return Seeds(
        assets=parse_assets(raw["assets"], config.data.file_roots()) if "assets" in raw else (),
        policies=parse_policies(raw["policies"], regions) if "policies" in raw else (),
        offers=parse_offers(raw["offers"]) if "offers" in raw else (),
        regions=regions,
    )


def _entries(raw: Any, section: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise ConfigError("config.type", f"must be an array of tables ([[{section}]])", section)
    return raw


def _convert(section: str, index: int, entry: dict[str, Any], convert: Any) -> Any:
    try:
        return convert(entry)
    except ConnectorError as exc:
        where = f"{section}[{index}]" + (f".{exc.where}" if exc.where else "")
        raise ConfigError("config.invalid", exc.reason, where) from None


def parse_assets(raw: Any, roots: Collection[str] | None = None) -> tuple[Asset, ...]:
    out = []
    for i, entry in enumerate(_entries(raw, "assets")):
        entry = _keys_to_api(entry, {"media_type": "mediaType"})
        out.append(_convert("assets", i, entry, lambda body: asset_from_json(body, roots=roots)))
    _unique(out, "assets")
    return tuple(out)


def parse_policies(raw: Any, regions: Mapping[str, frozenset[str]]) -> tuple[PolicyDefinition, ...]:
    out = [
        _convert("policies", i, e, lambda body: policy_from_json(body, regions=regions))
        for i, e in enumerate(_entries(raw, "policies"))
    ]
    _unique(out, "policies")
    return tuple(out)


def parse_offers(raw: Any) -> tuple[OfferDefinition, ...]:
    mapping = {
        "asset": "assetId",
        "asset_id": "assetId",
        "contract_policy": "contractPolicyId",
        "contract_policy_id": "contractPolicyId",
        "access_policy": "accessPolicyId",
        "access_policy_id": "accessPolicyId",
    }
    out = [
        _convert("offers", i, _keys_to_api(e, mapping), offer_from_json) for i, e in enumerate(_entries(raw, "offers"))
    ]
    _unique(out, "offers")
    return tuple(out)


def _keys_to_api(entry: dict[str, Any], mapping: dict[str, str]) -> dict[str, Any]:
    return {mapping.get(k, k): v for k, v in entry.items()}


def _unique(items: list[Any], section: str) -> None:
    seen: set[str] = set()
    for i, item in enumerate(items):
        if item.id in seen:
            raise ConfigError("config.invalid", f"id '{item.id}' appears twice", f"{section}[{i}].id")
        seen.add(item.id)


def parse_regions(raw: Any) -> dict[str, frozenset[str]]:
    """`[regions]`: named sets of ISO 3166-1 alpha-2 codes policies may use (besides EU, EEA, ...)."""
    if not isinstance(raw, dict):
        raise ConfigError("config.type", "must be a table of NAME = [country codes]", "regions")
    regions: dict[str, frozenset[str]] = {}
    for name, codes in raw.items():
        if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
            raise ConfigError("config.type", "must be a list of country codes", f"regions.{name}")
        regions[name] = frozenset(codes)
    problems = validate_regions(regions)
    if problems:
        raise ConfigError(
            "config.invalid", problems[0].reason, f"regions.{problems[0].where}" if problems[0].where else "regions"
        )
    return regions


def apply(db: Any, seeds: Seeds) -> int:
    """Write the configured definitions (in one transaction: all of them or none)."""
    for asset in seeds.assets:
        definitions_sql.upsert_asset(db, asset)
    for policy in seeds.policies:
        definitions_sql.upsert_policy(db, policy)
    for i, offer in enumerate(seeds.offers):
        try:
            definitions_sql.insert_offer(db, offer, replace=True)
        except ConnectorError as exc:
            raise ConfigError("config.invalid", exc.reason, f"offers[{i}].{exc.where or 'id'}") from None
    return len(seeds.assets) + len(seeds.policies) + len(seeds.offers)
