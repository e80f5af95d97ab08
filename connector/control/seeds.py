"""Assets, policies and offers written in the node's configuration (`[[assets]]`, `[[policies]]`, `[[offers]]`).

They are validated when the configuration is loaded, by the same validators as the management API (so an error
names the key, e.g. `policies[1].policy.permission[0].constraint[0].operator`), and written to the store at each
start: the configuration is the source of truth for the ids it names; others stay as the API left them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connector.control import repository as repo
from connector.control.records import Asset, OfferDefinition, PolicyDefinition
from connector.errors import ConfigError, ConnectorError

if TYPE_CHECKING:
    from connector.node.runtime import Node


@dataclass(frozen=True)
class Seeds:
    assets: tuple[Asset, ...] = ()
    policies: tuple[PolicyDefinition, ...] = ()
    offers: tuple[OfferDefinition, ...] = ()


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


def parse_assets(raw: Any, base: Path, extra: dict[str, Any]) -> tuple[Asset, ...]:
    from connector.management.resources import asset_from_json

    out = []
    for i, entry in enumerate(_entries(raw, "assets")):
        entry = _keys_to_api(entry, {"media_type": "mediaType"})
        out.append(_convert("assets", i, entry, asset_from_json))
    _unique(out, "assets")
    return tuple(out)


def parse_policies(raw: Any, base: Path, extra: dict[str, Any]) -> tuple[PolicyDefinition, ...]:
    from connector.management.resources import policy_from_json

    regions = extra.get("regions", {})
    out = [
        _convert("policies", i, e, lambda body: policy_from_json(body, regions=regions))
        for i, e in enumerate(_entries(raw, "policies"))
    ]
    _unique(out, "policies")
    return tuple(out)


def parse_offers(raw: Any, base: Path, extra: dict[str, Any]) -> tuple[OfferDefinition, ...]:
    from connector.management.resources import offer_from_json

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


def parse_regions(raw: Any, base: Path, extra: dict[str, Any]) -> dict[str, frozenset[str]]:
    """`[regions]`: named sets of ISO 3166-1 alpha-2 codes policies may use (besides EU, EEA, ...)."""
    from connector.policy import validate_regions

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


def register() -> None:
    from connector.config import EXTENSION_SECTIONS

    EXTENSION_SECTIONS.setdefault("regions", parse_regions)
    EXTENSION_SECTIONS.setdefault("assets", parse_assets)
    EXTENSION_SECTIONS.setdefault("policies", parse_policies)
    EXTENSION_SECTIONS.setdefault("offers", parse_offers)


def of(node: Node) -> Seeds:
    extra = node.config.extra
    return Seeds(extra.get("assets", ()), extra.get("policies", ()), extra.get("offers", ()))


def apply(db: Any, seeds: Seeds) -> int:
    """Write the configured definitions (in one transaction: all of them or none)."""
    for asset in seeds.assets:
        repo.upsert_asset(db, asset)
    for policy in seeds.policies:
        repo.upsert_policy(db, policy)
    for i, offer in enumerate(seeds.offers):
        try:
            repo.insert_offer(db, offer, replace=True)
        except ConnectorError as exc:
            raise ConfigError("config.invalid", exc.reason, f"offers[{i}].{exc.where or 'id'}") from None
    return len(seeds.assets) + len(seeds.policies) + len(seeds.offers)
