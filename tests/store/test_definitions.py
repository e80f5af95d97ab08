"""Assets, policies, offers and the catalogue, through the store."""

from __future__ import annotations

import dataclasses

import pytest
from store.kit import asset, at, offer, policy

from connector.errors import ConnectorError
from connector.store.interface import Tx
from connector.store.sql import definitions as sql


def _seed(tx: Tx) -> None:
    sql.insert_asset(tx, asset("weather", 1))
    sql.insert_asset(tx, asset("air", 2))
    sql.insert_policy(tx, policy("use", 1))
    sql.insert_policy(tx, policy("members", 2))
    sql.insert_offer(tx, offer("o-weather", "weather", "use", "members", 1))
    sql.insert_offer(tx, offer("o-air-2", "air", "use", None, 2))
    sql.insert_offer(tx, offer("o-air-1", "air", "members", None, 3))


async def test_an_asset_reads_back_exactly_as_it_was_stored(store):
    stored = asset(
        "weather",
        title="Weather",
        description="hourly readings",
        keywords=("weather", "hourly"),
        media_type="text/csv",
        formats=("HttpData-PULL", "HttpData-PUSH"),
        source={"type": "file", "path": "/data/w.csv", "headers": {"X-Key": {"env": "KEY"}}},
        properties={"unit": "°C", "n": 2**40},
    )
    await store.run(sql.insert_asset, stored)
    assert await store.read(sql.get_asset, "weather") == stored
    assert await store.read(sql.get_asset, "nothing") is None


async def test_an_asset_id_is_taken_once_and_an_upsert_keeps_the_first_creation_time(store):
    await store.run(sql.insert_asset, asset("weather", 1, title="old"))
    with pytest.raises(ConnectorError) as err:
        await store.run(sql.insert_asset, asset("weather", 5))
    assert err.value.code == "asset.conflict" and err.value.where == "id"
    await store.run(sql.upsert_asset, asset("weather", 9, title="new"))
    got = await store.read(sql.get_asset, "weather")
    assert (got.title, got.created_at, got.updated_at) == ("new", at(1), at(9))
    await store.run(sql.upsert_asset, asset("fresh", 4))
    assert (await store.read(sql.get_asset, "fresh")).created_at == at(4)


async def test_a_policy_reads_back_and_an_upsert_keeps_its_creation_time(store):
    await store.run(sql.insert_policy, policy("use", 1))
    assert await store.read(sql.get_policy, "use") == policy("use", 1)
    with pytest.raises(ConnectorError) as err:
        await store.run(sql.insert_policy, policy("use", 2))
    assert err.value.code == "policy.conflict"
    changed = dataclasses.replace(policy("use", 7), description="changed")
    await store.run(sql.upsert_policy, changed)
    assert await store.read(sql.get_policy, "use") == dataclasses.replace(changed, created_at=at(1))


async def test_definitions_are_listed_by_creation_time_a_page_at_a_time_with_their_total(store):
    for i, name in enumerate(["c", "a", "b", "d"]):
        await store.run(sql.insert_asset, asset(name, 10 - i if name != "d" else 10))
    page, total = await store.read(sql.list_assets, 2, 0)
    assert total == 4 and [a.id for a in page] == ["b", "a"]
    page, total = await store.read(sql.list_assets, 10, 2)
    assert total == 4 and [a.id for a in page] == ["c", "d"]  # equal times: by id
    await store.run(_seed_policies)
    policies, total = await store.read(sql.list_policies, 10, 0)
    assert total == 2 and [p.id for p in policies] == ["first", "second"]


def _seed_policies(tx: Tx) -> None:
    sql.insert_policy(tx, policy("second", 2))
    sql.insert_policy(tx, policy("first", 1))


async def test_an_offer_needs_its_asset_and_policies(store):
    await store.run(sql.insert_asset, asset("weather"))
    await store.run(sql.insert_policy, policy("use"))
    for bad, code, where in (
        (offer("o", "nothing", "use"), "offer.unknown_asset", "assetId"),
        (offer("o", "weather", "nothing"), "offer.unknown_policy", "contractPolicyId"),
        (offer("o", "weather", "use", "nothing"), "offer.unknown_policy", "accessPolicyId"),
    ):
        with pytest.raises(ConnectorError) as err:
            await store.run(sql.insert_offer, bad)
        assert (err.value.code, err.value.where) == (code, where)
    assert await store.read(sql.list_offers, 10, 0) == ([], 0)


async def test_an_offer_id_is_taken_once_unless_replaced(store):
    await store.run(_seed)
    with pytest.raises(ConnectorError) as err:
        await store.run(sql.insert_offer, offer("o-weather", "air", "use"))
    assert err.value.code == "offer.conflict"
    await store.run(sql.insert_offer, offer("o-weather", "air", "use", None, 9), True)
    assert await store.read(sql.get_offer, "o-weather") == offer("o-weather", "air", "use", None, 9)
    offers, total = await store.read(sql.list_offers, 10, 0)
    assert total == 3 and [o.id for o in offers] == ["o-air-2", "o-air-1", "o-weather"]


async def test_offers_of_an_asset_come_in_id_order(store):
    await store.run(_seed)
    assert [o.id for o in await store.read(sql.offers_for_asset, "air")] == ["o-air-1", "o-air-2"]
    assert await store.read(sql.offers_for_asset, "nothing") == []


async def test_the_catalogue_lists_every_offer_with_its_asset_and_policies(store):
    await store.run(_seed)
    rows = await store.read(sql.catalogue_rows)
    assert [(a.id, o.id, c.id, p.id if p else None) for a, o, c, p in rows] == [
        ("air", "o-air-1", "members", None),
        ("air", "o-air-2", "use", None),
        ("weather", "o-weather", "use", "members"),
    ]


async def test_what_an_offer_uses_cannot_be_deleted_before_the_offer(store):
    await store.run(_seed)
    for delete, name, code in (
        (sql.delete_asset, "weather", "asset.conflict"),
        (sql.delete_policy, "members", "policy.conflict"),  # the access policy of o-weather
        (sql.delete_asset, "nothing", "asset.not_found"),
        (sql.delete_policy, "nothing", "policy.not_found"),
        (sql.delete_offer, "nothing", "offer.not_found"),
    ):
        with pytest.raises(ConnectorError) as err:
            await store.run(delete, name)
        assert err.value.code == code
    for o in ("o-weather", "o-air-1", "o-air-2"):
        await store.run(sql.delete_offer, o)
    await store.run(sql.delete_policy, "members")
    await store.run(sql.delete_asset, "weather")
    assert await store.read(sql.get_policy, "members") is None
    assert await store.read(sql.get_asset, "weather") is None
    assert (await store.read(sql.list_assets, 10, 0))[1] == 1
