"""A peer's catalogue (a configured peer by name, or any peer by its DSP address), and from an offer in it: a
negotiation with the declared purpose, or a whole fetch (negotiation, transfer, pull)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from connector.config import PeerEntry
from connector.console import explain
from connector.console.api import ApiProblem, path
from connector.console.fetching import Fetches
from connector.console.kit import Kit, Route
from connector.console.rendering import see_other
from connector.errors import ConnectorError


def peer_body(peer: str, address: str, participant_id: str) -> dict[str, str]:
    """Who to ask, as the management API takes it: a configured peer's name, or an address (and its id)."""
    if peer:
        return {"peer": peer}
    body = {"counterPartyAddress": address}
    if participant_id:
        body["counterPartyId"] = participant_id
    return body


class Peers:
    def __init__(self, kit: Kit, peers: Sequence[PeerEntry], fetches: Fetches) -> None:
        self.kit = kit
        self.peers = tuple(peers)
        self.fetches = fetches

    def routes(self) -> list[Route]:
        return [
            ("GET", "/catalog", self.catalog),
            ("POST", "/catalog/negotiate", self.negotiate),
            ("GET", "/fetches/{id}", self.fetch_page),
            ("GET", "/fetches/{id}/data", self.fetch_data),
            ("POST", "/agreements/{id}/fetch", self.fetch_agreement),
        ]

    def _asked(self, request: web.Request) -> tuple[str, str, str]:
        q = request.query
        return q.get("peer", "").strip(), q.get("address", "").strip(), q.get("id", "").strip()

    async def catalog(self, request: web.Request) -> web.StreamResponse:
        peer, address, participant_id = self._asked(request)
        catalog, problem = None, None
        if peer or address:
            try:
                catalog = await self.kit.api.call(
                    "POST", "/v1/catalog/request", peer_body(peer, address, participant_id)
                )
            except ApiProblem as exc:
                problem = exc
        return self.kit.render(
            request,
            "catalog.html",
            peers=self.peers,
            peer=peer,
            address=address,
            participant_id=participant_id,
            catalog=catalog,
            problem=problem,
            fetches=self.fetches.recent()[:10],
            policy_words=explain.policy_words,
        )

    async def negotiate(self, request: web.Request) -> web.StreamResponse:
        kit = self.kit
        peer, address, participant_id = kit.text(request, "peer"), kit.text(request, "address"), kit.text(request, "id")
        dataset_id, offer_id = kit.text(request, "dataset"), kit.text(request, "offer")
        purpose = kit.text(request, "purpose") or None
        body: dict[str, str] = {
            **peer_body(peer, address, participant_id),
            "offerId": offer_id,
            "datasetId": dataset_id,
        }
        if purpose:
            body["purpose"] = purpose
        back = path("/console/catalog", peer=peer, address=address, id=participant_id)
        try:
            neg = await kit.api.call("POST", "/v1/negotiations", body)
        except ApiProblem as problem:
            kit.tell(request, f"The node did not start the negotiation: {problem.reason} ({problem.code})")
            return see_other(back)
        if kit.text(request, "then") != "fetch":
            kit.tell(request, f"Negotiation of {dataset_id} started.")
            return see_other(path("/console/negotiations", neg["id"]))
        try:
            fetch = self.fetches.start(peer or address, dataset_id, purpose, negotiation_id=str(neg["id"]))
        except ConnectorError as exc:
            kit.tell(request, f"Negotiation of {dataset_id} started, but the data cannot be fetched: {exc.reason}")
            return see_other(path("/console/negotiations", neg["id"]))
        return see_other(path("/console/fetches", fetch.id))

    async def fetch_agreement(self, request: web.Request) -> web.StreamResponse:
        aid = request.match_info["id"]
        agreement = await self.kit.api.call("GET", path("/v1/agreements", aid))
        try:
            fetch = self.fetches.start(
                str(agreement.get("providerId")), str(agreement.get("datasetId")), None, agreement_id=aid
            )
        except ConnectorError as exc:
            self.kit.tell(request, exc.reason)
            return see_other(path("/console/agreements", aid))
        return see_other(path("/console/fetches", fetch.id))

    async def fetch_page(self, request: web.Request) -> web.StreamResponse:
        fetch = self.fetches.get(request.match_info["id"])
        if fetch is None:
            return self.kit.render(request, "missing.html", status=404, what="fetch")
        return self.kit.render(request, "fetch.html", fetch=fetch)

    async def fetch_data(self, request: web.Request) -> web.StreamResponse:
        fetch = self.fetches.get(request.match_info["id"])
        if fetch is None or fetch.file is None or not Path(fetch.file).is_file():
            return self.kit.render(request, "missing.html", status=404, what="fetched data")
        return web.FileResponse(
            fetch.file,
            headers={
                "Content-Disposition": f'attachment; filename="{fetch.file.name}"',
                "Content-Type": "application/octet-stream",
            },
        )
