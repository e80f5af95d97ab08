"""The catalogue: what this node offers, as each peer may see it, and reading other nodes' catalogues.

Provider side: every offer's access policy is evaluated for the requesting peer; a dataset appears with the
offers the peer may see, and not at all if it may see none. The catalogue is read into an index once and rebuilt
only when assets, policies or offers change (here or, through the coordination signal `definitions`, on another
replica). Offers sharing an access policy are decided once; a policy that reads only what credentials say (not
the clock, not who the peer is) is decided once per class of claims (connector.policy.classes), and the listing
it gives is kept for that class; only a page of it is built per request.

Consumer side: `fetch` asks a peer for its catalogue (following `next` links), `fetch_dataset` for one dataset.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from connector.control.decisions import Decisions
from connector.dsp.pagination import paginate
from connector.errors import ConnectorError
from connector.policy.parties import PartyNames
from connector.policy.spelling import wire_policy
from connector.records.definitions import Asset, OfferDefinition, PolicyDefinition
from connector.store.interface import Store
from connector.store.sql import definitions as repo
from connector.trust.claims import VerifiedClaims
from connector.web.peer_client import PeerClient

if TYPE_CHECKING:  # the DSP messages load with the first one received or sent
    from connector.dsp.messages import Catalog, Dataset

log = logging.getLogger("connector.catalog")

# Which assets may not be offered, each with why (data received under an agreement prohibiting its distribution).
Withhold = Callable[[Sequence[Asset]], Awaitable[Mapping[str, str]]]


@dataclass(frozen=True)
class CatalogueSettings:
    participant_id: str
    dsp_url: Callable[[], str]  # our DSP base URL (known once the protocol listener is bound)
    page_size: int = 100
    title: str = ""


@dataclass(frozen=True)
class CatalogueEntry:
    asset: Asset
    offer: OfferDefinition
    contract: PolicyDefinition
    access: PolicyDefinition | None

    def offer_json(self) -> dict[str, Any]:
        """The offer as a catalogue lists it: the contract policy's rules under the offer's id, left operands
        spelled to survive JSON-LD expansion."""
        return {"@id": self.offer.id, "@type": "Offer", **self.rules_json()}

    def rules_json(self) -> dict[str, Any]:
        policy = {k: v for k, v in self.contract.policy.items() if k not in ("@id", "@type", "target", "@context")}
        return wire_policy(policy)


@dataclass(frozen=True)
class Listing:
    assets: tuple[tuple[Asset, tuple[dict[str, Any], ...]], ...]  # in catalogue order, each with its visible offers
    hidden: int  # offers not shown to this peer


class CatalogueIndex:
    """The catalogue as read once per change of definitions: the entries, each asset with its offers in catalogue
    order, and the distinct access policies (offers sharing one are decided once). Verdicts of the policies that
    depend on the peer's class of claims alone are kept per class, with the resulting listing when no policy
    needs deciding for every request."""

    def __init__(self, entries: list[CatalogueEntry], decisions: Decisions, classes: int = 128) -> None:
        self.entries = entries
        groups: dict[str, int] = {}
        rules: dict[str, dict[str, Any]] = {}  # by contract policy: offers under one share its wire form
        self.policies: list[Mapping[str, Any] | None] = []
        self.assets: list[tuple[Asset, list[tuple[int, dict[str, Any]]]]] = []
        self.position: dict[str, int] = {}
        for entry in entries:
            access = entry.access.policy if entry.access else None
            key = "" if access is None else _decisive(access)
            group = groups.get(key)
            if group is None:
                group = groups[key] = len(self.policies)
                self.policies.append(access)
            at = self.position.get(entry.asset.id)
            if at is None:
                at = self.position[entry.asset.id] = len(self.assets)
                self.assets.append((entry.asset, []))
            wired = rules.get(entry.contract.id)
            if wired is None:
                wired = rules[entry.contract.id] = entry.rules_json()
            self.assets[at][1].append((group, {"@id": entry.offer.id, "@type": "Offer", **wired}))
        # Each asset with all its offers, shared by every listing that shows them all (most do): a listing kept for
        # a class then costs a pointer per visible asset.
        self._whole = [(asset, tuple(offer for _, offer in offers)) for asset, offers in self.assets]
        by_class = [decisions.decided_by_class(policy) for policy in self.policies]
        self.class_groups = tuple(g for g, steady in enumerate(by_class) if steady)
        self.request_groups = tuple(g for g, steady in enumerate(by_class) if not steady)
        self._classes: OrderedDict[Hashable, tuple[frozenset[int], Listing | None]] = OrderedDict()
        self._capacity = classes

    def listing(self, decisions: Decisions, claims: VerifiedClaims, now: datetime) -> Listing:
        """The assets this peer may see, each with the offers it may see, and how many offers are hidden."""
        key = decisions.catalogue_class(claims, now) if self.class_groups else None
        known = self._classes.get(key) if key is not None else None
        if known is not None:
            self._classes.move_to_end(key)
            by_class, listed = known
            if listed is not None:
                return listed
        else:
            by_class = self._decide(decisions, self.class_groups, claims, now)
        permitted = by_class
        if self.request_groups:
            permitted = by_class | self._decide(decisions, self.request_groups, claims, now)
        listed = self._list(permitted)
        if key is not None and known is None:
            self._classes[key] = (by_class, None if self.request_groups else listed)
            if len(self._classes) > self._capacity:
                self._classes.popitem(last=False)
        return listed

    def _decide(
        self, decisions: Decisions, groups: Sequence[int], claims: VerifiedClaims, now: datetime
    ) -> frozenset[int]:
        policies = self.policies
        return frozenset(g for g in groups if decisions.catalogue_visible(policies[g], claims, now).permitted)

    def _list(self, permitted: frozenset[int]) -> Listing:
        visible: list[tuple[Asset, tuple[dict[str, Any], ...]]] = []
        hidden = 0
        for (asset, offers), whole in zip(self.assets, self._whole):
            shown = tuple(offer for group, offer in offers if group in permitted)
            hidden += len(offers) - len(shown)
            if len(shown) == len(offers):
                visible.append(whole)
            elif shown:
                visible.append((asset, shown))
        return Listing(tuple(visible), hidden)


class CatalogService:
    def __init__(
        self,
        store: Store,
        peers: PeerClient,
        decisions: Decisions,
        settings: CatalogueSettings,
        parties: PartyNames | None = None,
        withhold: Withhold | None = None,
    ) -> None:
        self.parties = parties or PartyNames()  # a publisher may name itself by an alias (a BPN)
        self.store = store
        self.peers = peers
        self.decisions = decisions
        self.settings = settings
        self.withhold = withhold
        self._index: CatalogueIndex | None = None
        self._changes = 0  # definitions changed so often: an index read before a change is not kept
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._changes += 1
        self._index = None

    async def index(self) -> CatalogueIndex:
        index = self._index
        if index is None:
            async with self._lock:
                index = self._index
                if index is None:
                    changes = self._changes
                    rows = await self.store.read(repo.catalogue_rows)
                    entries = await self._offerable([CatalogueEntry(*row) for row in rows])
                    index = CatalogueIndex(entries, self.decisions)
                    if changes == self._changes:
                        self._index = index
        return index

    async def entries(self) -> list[CatalogueEntry]:
        return (await self.index()).entries

    async def _offerable(self, entries: list[CatalogueEntry]) -> list[CatalogueEntry]:
        """The entries without those whose asset may not be offered at all (said in the log, with why)."""
        if self.withhold is None or not entries:
            return entries
        withheld = await self.withhold([e.asset for e in entries])
        for asset_id, reason in withheld.items():
            log.warning("withheld from the catalogue: %s", reason, extra={"asset": asset_id})
        return [e for e in entries if e.asset.id not in withheld]

    async def listing(self, claims: VerifiedClaims) -> Listing:
        """The assets this peer may see, each with only the offers it may see, and how many offers are hidden."""
        return (await self.index()).listing(self.decisions, claims, datetime.now(UTC))

    def _dataset(self, asset: Asset, offers: Sequence[dict[str, Any]], service: Any) -> Dataset:
        from connector.dsp import catalog_builder

        return catalog_builder.build_dataset(
            asset.id,
            offers=list(offers),
            formats=asset.formats,
            access_service=service,
            properties=_dcat_properties(asset),
        )

    def service_id(self) -> str:
        return f"{self.settings.participant_id}#dsp"

    def data_service(self) -> Any:
        from connector.dsp import catalog_builder

        return catalog_builder.data_service(self.service_id(), self.settings.dsp_url())

    async def catalogue_page(
        self, claims: VerifiedClaims, cursor: str | None, page_url: str
    ) -> tuple[dict[str, Any], tuple[str, ...], int]:
        """One page of the catalogue as this peer may see it, its `Link` headers, and how many offers it hides."""
        listed = await self.listing(claims)
        page = paginate(listed.assets, page_size=self.settings.page_size, cursor=cursor)
        service = self.service_id()
        catalog = self.catalogue_document([self._dataset(asset, offers, service) for asset, offers in page.items])
        return catalog.to_json(), page.link_headers(page_url), listed.hidden

    def catalogue_document(self, datasets: list[Dataset]) -> Any:
        from connector.dsp import catalog_builder

        title = self.settings.title
        return catalog_builder.build_catalog(
            f"{self.settings.participant_id}#catalog",
            participant_id=self.settings.participant_id,
            services=[self.data_service()],
            datasets=datasets,
            properties={"dct:title": title} if title else None,
        )

    async def dataset(self, claims: VerifiedClaims, dataset_id: str) -> dict[str, Any] | None:
        index = await self.index()
        at = index.position.get(dataset_id)
        if at is None:
            return None
        asset, offers = index.assets[at]
        now = datetime.now(UTC)
        policies = index.policies
        visible = [o for g, o in offers if self.decisions.catalogue_visible(policies[g], claims, now).permitted]
        if not visible:
            return None
        return self._dataset(asset, visible, self.data_service()).to_json()

    # --- consumer side --------------------------------------------------------------------------------------

    async def identify(self, address: str) -> str | None:
        """The participant id a peer's TLS certificate names, learnt from its open version endpoint (so that the
        first authenticated request can already carry a token for the right audience)."""
        from urllib.parse import urlsplit

        parts = urlsplit(address)
        resp = await self.peers.get(f"{parts.scheme}://{parts.netloc}/.well-known/dspace-version")
        return resp.server_id

    async def fetch(self, address: str, peer_id: str | None, max_pages: int = 50) -> Catalog:
        """A peer's whole catalogue (all pages), parsed and validated."""
        from connector.dsp.messages import Catalog, CatalogRequestMessage

        client = self.peers
        if peer_id is None and address.startswith("https:"):
            peer_id = await self.identify(address)
        url = f"{address.rstrip('/')}/catalog/request"
        body = CatalogRequestMessage().to_json()
        datasets: list[Dataset] = []
        first: Catalog | None = None
        for _ in range(max_pages):
            resp = await client.post(url, body, expected_peer=peer_id)
            if not resp.ok:
                raise ConnectorError(
                    "catalog.peer_error",
                    f"{address} refused the catalogue request ({resp.status}): {resp.error_reason()}",
                )
            catalog = _peer_document(resp.body, "Catalog", address)
            assert isinstance(catalog, Catalog)
            publisher = peer_id or resp.server_id
            named = self.parties.participant(catalog.participant_id) if catalog.participant_id else None
            if publisher is not None and named != publisher:
                raise ConnectorError(
                    "catalog.identity_mismatch",
                    f"the catalogue at {address} names "
                    f"{catalog.participant_id} as its publisher, but is served by {publisher}",
                )
            first = first or catalog
            datasets.extend(catalog.datasets)
            following = _next_link(resp.headers.get("Link", ""))
            if following is None:
                break
            url = following
        assert first is not None
        return Catalog(
            id=first.id,
            participant_id=first.participant_id,
            services=first.services,
            datasets=tuple(datasets),
            extensions=first.extensions,
        )

    async def fetch_dataset(self, address: str, peer_id: str | None, dataset_id: str) -> Dataset:
        from urllib.parse import quote

        from connector.dsp.messages import Dataset

        client = self.peers
        if peer_id is None and address.startswith("https:"):
            peer_id = await self.identify(address)
        resp = await client.get(
            f"{address.rstrip('/')}/catalog/datasets/{quote(dataset_id, safe='')}", expected_peer=peer_id
        )
        if resp.status == 404:
            raise ConnectorError(
                "dataset.not_found", f"{address} offers no dataset '{dataset_id}' to this node", "datasetId"
            )
        if not resp.ok:
            raise ConnectorError(
                "catalog.peer_error", f"{address} refused the dataset request ({resp.status}): {resp.error_reason()}"
            )
        dataset = _peer_document(resp.body, "Dataset", address)
        assert isinstance(dataset, Dataset)
        return dataset


def _peer_document(body: Any, kind: str, address: str) -> Any:
    from connector.dsp.messages import parse_message

    try:
        return parse_message(body, expected=kind)
    except ConnectorError as exc:
        raise ConnectorError(
            "catalog.peer_error", f"{address} sent an invalid {kind}: {exc.reason}", exc.where
        ) from None


def _decisive(policy: Mapping[str, Any]) -> str:
    """The policy's canonical JSON without its @id, which names where it is kept, not what it decides."""
    body = {k: v for k, v in policy.items() if k != "@id"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)


def _dcat_properties(asset: Asset) -> Mapping[str, Any]:
    props: dict[str, Any] = {}
    # Compact IRIs with the prefixes the DSP context defines, so peers that expand JSON-LD keep them.
    if asset.title:
        props["dct:title"] = asset.title
    if asset.description:
        props["dct:description"] = asset.description
    if asset.keywords:
        props["dcat:keyword"] = list(asset.keywords)
    if asset.media_type:
        props["dcat:mediaType"] = asset.media_type
    return props


def _next_link(header: str) -> str | None:
    for part in header.split(","):
        if 'rel="next"' in part:
            start, end = part.find("<"), part.find(">")
            if 0 <= start < end:
                return part[start + 1 : end]
    return None
