"""The provider's catalogue decides an access policy once per class of claims, and what each peer sees is exactly
what deciding every offer for that peer afresh gives: peers of one class share decisions, a policy that reads the
clock or names its assignee is decided for every request, and a change of definitions is never hidden by what was
decided before it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.control.catalog import CatalogService, CatalogueSettings
from connector.control.decisions import PolicyDecisions
from connector.policy.classes import claims_class, decided_by_class
from connector.policy.context import DecisionContext
from connector.policy.parse import parse_policy
from connector.records.definitions import Asset, OfferDefinition, PolicyDefinition
from connector.store.sql import definitions as repo
from connector.store.sqlite import open_store
from connector.trust.claims import VerifiedClaims, VerifiedCredential

NOW = datetime.now(UTC)


def credential(kind: str, subject: dict[str, Any]) -> VerifiedCredential:
    return VerifiedCredential(
        f"urn:uuid:{kind}-{subject['id']}",
        ("VerifiableCredential", kind),
        "did:web:authority",
        "eu",
        subject,
        NOW - timedelta(days=1),
        None,
        "0" * 64,
    )


def peer(name: str, member_of: str | None = None, country: str | None = None) -> VerifiedClaims:
    pid = f"did:web:example.com:{name}"
    creds = []
    if member_of:
        creds.append(credential("MembershipCredential", {"id": pid, "memberOf": member_of}))
    if country:
        creds.append(credential("OrganizationCredential", {"id": pid, "countryOfEstablishment": country}))
    return VerifiedClaims(pid, NOW, tuple(creds))


def rule(*constraints: dict[str, Any]) -> dict[str, Any]:
    return {"permission": [{"action": "use", "constraint": list(constraints)}]}


MEMBERS = rule({"leftOperand": "membership", "operator": "eq", "rightOperand": "eu-dataspace"})
IN_EU = rule({"leftOperand": "countryOfEstablishment", "operator": "isPartOf", "rightOperand": "EU"})
PAST = rule({"leftOperand": "dateTime", "operator": "lteq", "rightOperand": "2001-01-01T00:00:00Z"})
FUTURE = rule({"leftOperand": "dateTime", "operator": "lteq", "rightOperand": "2999-01-01T00:00:00Z"})
ONLY_CAROL = {"assignee": "did:web:example.com:carol", **rule()}
INVALID = {"permission": [{"action": "use", "constraint": [{"leftOperand": "membership", "operator": "nope"}]}]}
ACCESS = {"members": MEMBERS, "in-eu": IN_EU, "past": PAST, "future": FUTURE, "carol": ONLY_CAROL, "bad": INVALID}
PEERS = [
    peer("alice", "eu-dataspace", "DE"),
    peer("bob", "eu-dataspace", "DE"),  # alice's class
    peer("carol", "jp-dataspace", "JP"),
    peer("frank", "jp-dataspace", "JP"),  # carol's class, but not the assignee of the policy assigned to her
    peer("dave", None, "FR"),
    peer("erin"),
]


class Counting(PolicyDecisions):
    def __init__(self) -> None:
        super().__init__()
        self.decided: list[Any] = []

    def catalogue_visible(self, access_policy: Any, claims: VerifiedClaims, now: datetime) -> Any:
        self.decided.append(access_policy)
        return super().catalogue_visible(access_policy, claims, now)


async def define(store: Any, count: int) -> None:
    """`count` assets, each with an open offer and, for most, a second offer under one of the access policies."""
    names = [None, *ACCESS]

    def write(tx: Any) -> None:
        repo.upsert_policy(tx, PolicyDefinition("use", rule()))
        for name, policy in ACCESS.items():
            repo.upsert_policy(tx, PolicyDefinition(f"access-{name}", {"@id": f"urn:access:{name}", **policy}))
        for i in range(count):
            asset = f"asset-{i:04d}"
            repo.insert_asset(tx, Asset(asset, title=f"Dataset {i}"))
            access = names[i % len(names)]
            repo.insert_offer(tx, OfferDefinition(f"{asset}-a", asset, "use", f"access-{access}" if access else None))
            if i % 3 == 0:
                repo.insert_offer(tx, OfferDefinition(f"{asset}-b", asset, "use", "access-members"))

    await store.run(write)


@pytest.fixture
async def catalogue(tmp_path: Path) -> Any:
    store = await open_store(tmp_path / "store.db")
    decisions = Counting()
    service = CatalogService(
        store,
        None,
        decisions,
        CatalogueSettings("did:web:example.com:provider", lambda: "https://p/dsp", 10),  # type: ignore[arg-type]
    )
    try:
        yield service
    finally:
        await store.close()


def afresh(service: CatalogService, entries: list[Any], claims: VerifiedClaims) -> tuple[list[Any], int]:
    """What the peer sees when every offer is decided for it alone, as the catalogue did before classes."""
    fresh = PolicyDecisions()
    visible: dict[str, list[str]] = {}
    hidden = 0
    for entry in entries:
        access = entry.access.policy if entry.access else None
        if fresh.catalogue_visible(access, claims, NOW).permitted:
            visible.setdefault(entry.asset.id, []).append(entry.offer.id)
        else:
            hidden += 1
    return list(visible.items()), hidden


def seen(listing: Any) -> list[tuple[str, list[str]]]:
    return [(asset.id, [offer["@id"] for offer in offers]) for asset, offers in listing.assets]


async def test_every_peer_sees_what_deciding_each_offer_for_it_alone_gives(catalogue: CatalogService) -> None:
    await define(catalogue.store, 140)
    entries = await catalogue.entries()
    for _ in range(2):  # the second time from what each class decided
        for claims in PEERS:
            listing = await catalogue.listing(claims)
            expected, hidden = afresh(catalogue, entries, claims)
            assert (seen(listing), listing.hidden) == (expected, hidden), claims.participant_id
    # The policies are not all alike: some peers see more than others.
    assert len({len((await catalogue.listing(c)).assets) for c in PEERS}) >= 3


async def test_peers_of_one_class_share_decisions_but_the_clock_and_the_assignee_are_asked_each_time(
    catalogue: CatalogService,
) -> None:
    await define(catalogue.store, 140)
    decisions = catalogue.decisions
    assert isinstance(decisions, Counting)
    alice, bob, carol = PEERS[:3]
    await catalogue.listing(alice)
    first = len(decisions.decided)
    assert first == len(ACCESS) + 1  # each distinct access policy (and no policy) once, not each of 187 offers
    decisions.decided.clear()
    await catalogue.listing(bob)
    per_request = {"urn:access:past", "urn:access:future", "urn:access:carol"}
    assert sorted(p["@id"] for p in decisions.decided) == sorted(per_request)
    decisions.decided.clear()
    await catalogue.listing(carol)  # another class: decided anew
    assert len(decisions.decided) == first
    carol_sees = {offer["@id"] for _, offers in (await catalogue.listing(carol)).assets for offer in offers}
    bob_sees = {offer["@id"] for _, offers in (await catalogue.listing(bob)).assets for offer in offers}
    only_carol = "asset-0005-a"  # offered under the policy assigned to carol
    assert only_carol in carol_sees and only_carol not in bob_sees


async def test_a_page_and_its_links_come_from_the_listing(catalogue: CatalogService) -> None:
    await define(catalogue.store, 40)
    alice = PEERS[0]
    listing = await catalogue.listing(alice)
    document, links, hidden = await catalogue.catalogue_page(alice, None, "https://p/dsp/catalog/request")
    assert [d["@id"] for d in document["dataset"]] == [asset.id for asset, _ in listing.assets[:10]]
    assert hidden == listing.hidden and any('rel="next"' in link for link in links)
    one = await catalogue.dataset(alice, listing.assets[3][0].id)
    assert one is not None and [o["@id"] for o in one["hasPolicy"]] == [o["@id"] for o in listing.assets[3][1]]
    assert await catalogue.dataset(alice, "asset-0005") is None  # its only offer is carol's


async def test_a_change_of_definitions_replaces_every_decision_made_before_it(catalogue: CatalogService) -> None:
    await define(catalogue.store, 20)
    dave = PEERS[4]
    before = seen(await catalogue.listing(dave))

    def open_members_policy(tx: Any) -> None:
        repo.upsert_policy(tx, PolicyDefinition("access-members", rule()))

    await catalogue.store.run(open_members_policy)
    assert seen(await catalogue.listing(dave)) == before  # not yet told
    catalogue.invalidate()
    after = seen(await catalogue.listing(dave))
    assert after != before
    assert (after, (await catalogue.listing(dave)).hidden) == afresh(catalogue, await catalogue.entries(), dave)


async def test_an_index_read_while_definitions_change_is_not_kept(catalogue: CatalogService) -> None:
    await define(catalogue.store, 10)
    real_read = catalogue.store.read
    reading = asyncio.Event()
    proceed = asyncio.Event()

    async def slow_read(fn: Any, *args: Any) -> Any:
        rows = await real_read(fn, *args)
        reading.set()
        await proceed.wait()
        return rows

    catalogue.store.read = slow_read  # type: ignore[method-assign]
    building = asyncio.create_task(catalogue.index())
    await reading.wait()
    catalogue.invalidate()  # a change landed after the rows were read
    proceed.set()
    stale = await building
    catalogue.store.read = real_read  # type: ignore[method-assign]
    assert await catalogue.index() is not stale


def test_a_class_is_what_credentials_say_not_who_holds_them() -> None:
    def key(claims: VerifiedClaims) -> Any:
        return claims_class(DecisionContext(claims=claims, now=NOW, stage="catalog"))

    alice, bob, carol, frank, dave, erin = PEERS
    assert key(alice) == key(bob) and key(carol) == key(frank)
    assert len({key(alice), key(carol), key(dave), key(erin)}) == 4
    assert decided_by_class(parse_policy(MEMBERS)) and decided_by_class(parse_policy(IN_EU))
    purpose = rule({"leftOperand": "purpose", "operator": "eq", "rightOperand": "research"})
    assert decided_by_class(parse_policy(purpose))  # no purpose is declared when browsing: the same for all
    assert not decided_by_class(parse_policy(PAST)) and not decided_by_class(parse_policy(ONLY_CAROL))
