"""The catalogue: what this node offers, as each peer may see it, and reading other nodes' catalogues.

Provider side: every offer's access policy is evaluated for the requesting peer; a dataset appears with the
offers the peer may see, and not at all if it may see none. The parsed catalogue is cached in memory and rebuilt
only when assets, policies or offers change.

Consumer side: `fetch` asks a peer for its catalogue (following `next` links), `fetch_dataset` for one dataset.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connector.control.decisions import Decisions, Verdict
from connector.dsp import catalog_builder
from connector.dsp.messages import Catalog, CatalogRequestMessage, Dataset, parse_message
from connector.dsp.pagination import paginate
from connector.errors import ConnectorError
from connector.policy.parties import PartyNames
from connector.policy.spelling import wire_policy
from connector.records.definitions import Asset, OfferDefinition, PolicyDefinition
from connector.store.interface import Store
from connector.store.sql import definitions as repo
from connector.trust.claims import VerifiedClaims
from connector.web.peer_client import PeerClient

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
        policy = {k: v for k, v in self.contract.policy.items() if k not in ("@id", "@type", "target", "@context")}
        return {"@id": self.offer.id, "@type": "Offer", **wire_policy(policy)}


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
        self._entries: list[CatalogueEntry] | None = None
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._entries = None

    async def entries(self) -> list[CatalogueEntry]:
        entries = self._entries
        if entries is None:
            async with self._lock:
                if self._entries is None:
                    rows = await self.store.read(repo.catalogue_rows)
                    self._entries = await self._offerable([CatalogueEntry(*row) for row in rows])
                entries = self._entries
        return entries

    async def _offerable(self, entries: list[CatalogueEntry]) -> list[CatalogueEntry]:
        """The entries without those whose asset may not be offered at all (said in the log, with why)."""
        if self.withhold is None or not entries:
            return entries
        withheld = await self.withhold([e.asset for e in entries])
        for asset_id, reason in withheld.items():
            log.warning("withheld from the catalogue: %s", reason, extra={"asset": asset_id})
        return [e for e in entries if e.asset.id not in withheld]

    async def visible_datasets(self, claims: VerifiedClaims) -> tuple[list[Dataset], list[dict[str, Any]]]:
        """The datasets this peer may see (with only the offers it may see), and a decision per hidden offer."""
        now = datetime.now(UTC)
        decisions = self.decisions
        by_asset: dict[str, tuple[Asset, list[dict[str, Any]]]] = {}
        hidden: list[dict[str, Any]] = []
        for entry in await self.entries():
            verdict: Verdict = decisions.catalogue_visible(entry.access.policy if entry.access else None, claims, now)
            if not verdict.permitted:
                hidden.append({"offer": entry.offer.id, "dataset": entry.asset.id, "reason": verdict.reason})
                continue
            by_asset.setdefault(entry.asset.id, (entry.asset, []))[1].append(entry.offer_json())
        service = self.service_id()
        datasets = [
            catalog_builder.build_dataset(
                asset.id,
                offers=offers,
                formats=asset.formats,
                access_service=service,
                properties=_dcat_properties(asset),
            )
            for asset, offers in by_asset.values()
        ]
        return datasets, hidden

    def service_id(self) -> str:
        return f"{self.settings.participant_id}#dsp"

    def data_service(self) -> Any:
        return catalog_builder.data_service(self.service_id(), self.settings.dsp_url())

    async def catalogue_page(
        self, claims: VerifiedClaims, cursor: str | None, page_url: str
    ) -> tuple[dict[str, Any], tuple[str, ...], list[dict[str, Any]]]:
        datasets, hidden = await self.visible_datasets(claims)
        page = paginate(datasets, page_size=self.settings.page_size, cursor=cursor)
        catalog = self.catalogue_document(list(page.items))
        return catalog.to_json(), page.link_headers(page_url), hidden

    def catalogue_document(self, datasets: list[Dataset]) -> Any:
        title = self.settings.title
        return catalog_builder.build_catalog(
            f"{self.settings.participant_id}#catalog",
            participant_id=self.settings.participant_id,
            services=[self.data_service()],
            datasets=datasets,
            properties={"dct:title": title} if title else None,
        )

    async def dataset(self, claims: VerifiedClaims, dataset_id: str) -> dict[str, Any] | None:
        now = datetime.now(UTC)
        offers, asset = [], None
        for entry in await self.entries():
            if entry.asset.id != dataset_id:
                continue
            asset = entry.asset
            access = entry.access.policy if entry.access else None
            if self.decisions.catalogue_visible(access, claims, now).permitted:
                offers.append(entry.offer_json())
        if asset is None or not offers:
            return None
        return catalog_builder.build_dataset(
            asset.id,
            offers=offers,
            formats=asset.formats,
            access_service=self.data_service(),
            properties=_dcat_properties(asset),
        ).to_json()

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

        client = self.peers
        if peer_id is None and address.startswith("https:"):
            peer_id = await self.identify(address)
        resp = await client.get(
            f"{address.rstrip('/')}/catalog/datasets/{quote(dataset_id, safe='')}", expected_peer=peer_id
        )
        if resp.status == 404:
            raise ConnectorError("dataset.not_found", f"{address} offers no dataset '{dataset_id}' to this node")
        if not resp.ok:
            raise ConnectorError(
                "catalog.peer_error", f"{address} refused the dataset request ({resp.status}): {resp.error_reason()}"
            )
        dataset = _peer_document(resp.body, "Dataset", address)
        assert isinstance(dataset, Dataset)
        return dataset


def _peer_document(body: Any, kind: str, address: str) -> Any:
    try:
        return parse_message(body, expected=kind)
    except ConnectorError as exc:
        raise ConnectorError(
            "catalog.peer_error", f"{address} sent an invalid {kind}: {exc.reason}", exc.where
        ) from None


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
