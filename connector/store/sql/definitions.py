"""The statements of the operator's definitions: assets, policies, offers, and the catalogue made of them."""

from __future__ import annotations

from connector.errors import ConnectorError
from connector.records.columns import iso
from connector.records.definitions import Asset, OfferDefinition, PolicyDefinition
from connector.store.interface import Tx
from connector.store.sql.rows import one, page, upsert

# --- assets -----------------------------------------------------------------------------------------------------


def insert_asset(tx: Tx, asset: Asset) -> None:
    if one(tx, "SELECT id FROM assets WHERE id = ?", [asset.id]):
        raise ConnectorError("asset.conflict", f"an asset with id '{asset.id}' already exists", "id")
    upsert(tx, "assets", asset.to_row())


def upsert_asset(tx: Tx, asset: Asset) -> None:
    existing = get_asset(tx, asset.id)
    row = asset.to_row()
    if existing is not None:
        row["created_at"] = iso(existing.created_at)
    upsert(tx, "assets", row)


def get_asset(tx: Tx, asset_id: str) -> Asset | None:
    row = one(tx, "SELECT * FROM assets WHERE id = ?", [asset_id])
    return Asset.from_row(row) if row else None


def list_assets(tx: Tx, limit: int, offset: int) -> tuple[list[Asset], int]:
    rows, total = page(tx, "assets", limit, offset)
    return [Asset.from_row(r) for r in rows], total


def delete_asset(tx: Tx, asset_id: str) -> None:
    if get_asset(tx, asset_id) is None:
        raise ConnectorError("asset.not_found", f"no asset '{asset_id}'", "id")
    if one(tx, "SELECT id FROM offers WHERE asset_id = ?", [asset_id]):
        raise ConnectorError("asset.conflict", f"asset '{asset_id}' is still offered; delete its offers first")
    tx.execute("DELETE FROM assets WHERE id = ?", [asset_id])


# --- policies ---------------------------------------------------------------------------------------------------


def insert_policy(tx: Tx, policy: PolicyDefinition) -> None:
    if one(tx, "SELECT id FROM policies WHERE id = ?", [policy.id]):
        raise ConnectorError("policy.conflict", f"a policy with id '{policy.id}' already exists", "id")
    upsert(tx, "policies", policy.to_row())


def upsert_policy(tx: Tx, policy: PolicyDefinition) -> None:
    existing = get_policy(tx, policy.id)
    row = policy.to_row()
    if existing is not None:
        row["created_at"] = iso(existing.created_at)
    upsert(tx, "policies", row)


def get_policy(tx: Tx, policy_id: str) -> PolicyDefinition | None:
    row = one(tx, "SELECT * FROM policies WHERE id = ?", [policy_id])
    return PolicyDefinition.from_row(row) if row else None


def list_policies(tx: Tx, limit: int, offset: int) -> tuple[list[PolicyDefinition], int]:
    rows, total = page(tx, "policies", limit, offset)
    return [PolicyDefinition.from_row(r) for r in rows], total


def delete_policy(tx: Tx, policy_id: str) -> None:
    if get_policy(tx, policy_id) is None:
        raise ConnectorError("policy.not_found", f"no policy '{policy_id}'", "id")
    if one(tx, "SELECT id FROM offers WHERE contract_policy_id = ? OR access_policy_id = ?", [policy_id, policy_id]):
        raise ConnectorError("policy.conflict", f"policy '{policy_id}' is used by an offer; delete the offer first")
    tx.execute("DELETE FROM policies WHERE id = ?", [policy_id])


# --- offers -----------------------------------------------------------------------------------------------------


def insert_offer(tx: Tx, offer: OfferDefinition, replace: bool = False) -> None:
    if get_asset(tx, offer.asset_id) is None:
        raise ConnectorError("offer.unknown_asset", f"no asset '{offer.asset_id}'", "assetId")
    for key, pid in (("contractPolicyId", offer.contract_policy_id), ("accessPolicyId", offer.access_policy_id)):
        if pid is not None and get_policy(tx, pid) is None:
            raise ConnectorError("offer.unknown_policy", f"no policy '{pid}'", key)
    if one(tx, "SELECT id FROM offers WHERE id = ?", [offer.id]):
        if not replace:
            raise ConnectorError("offer.conflict", f"an offer with id '{offer.id}' already exists", "id")
        tx.execute("DELETE FROM offers WHERE id = ?", [offer.id])
    upsert(tx, "offers", offer.to_row())


def get_offer(tx: Tx, offer_id: str) -> OfferDefinition | None:
    row = one(tx, "SELECT * FROM offers WHERE id = ?", [offer_id])
    return OfferDefinition.from_row(row) if row else None


def list_offers(tx: Tx, limit: int, offset: int) -> tuple[list[OfferDefinition], int]:
    rows, total = page(tx, "offers", limit, offset)
    return [OfferDefinition.from_row(r) for r in rows], total


def offers_for_asset(tx: Tx, asset_id: str) -> list[OfferDefinition]:
    return [
        OfferDefinition.from_row(r)
        for r in tx.execute("SELECT * FROM offers WHERE asset_id = ? ORDER BY id", [asset_id])
    ]


def delete_offer(tx: Tx, offer_id: str) -> None:
    if get_offer(tx, offer_id) is None:
        raise ConnectorError("offer.not_found", f"no offer '{offer_id}'", "id")
    tx.execute("DELETE FROM offers WHERE id = ?", [offer_id])


# --- the catalogue ----------------------------------------------------------------------------------------------


def catalogue_rows(tx: Tx) -> list[tuple[Asset, OfferDefinition, PolicyDefinition, PolicyDefinition | None]]:
    """Every offer with its asset and policies, in catalogue order (asset id, then offer id)."""
    out = []
    policies = {p.id: p for p in (PolicyDefinition.from_row(r) for r in tx.execute("SELECT * FROM policies"))}
    assets = {a.id: a for a in (Asset.from_row(r) for r in tx.execute("SELECT * FROM assets"))}
    for row in tx.execute("SELECT * FROM offers ORDER BY asset_id, id"):
        offer = OfferDefinition.from_row(row)
        access = policies.get(offer.access_policy_id) if offer.access_policy_id else None
        out.append((assets[offer.asset_id], offer, policies[offer.contract_policy_id], access))
    return out
