"""Management API: talking to peers (catalogue requests) and the processes that follow (negotiations,
agreements, transfers), each with its full history so that a stuck or failed process explains itself."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from connector.config import PeerEntry
from connector.control.control_plane import ControlPlane
from connector.dsp.vocabulary import NegotiationState, Role, TransferState
from connector.errors import ConnectorError
from connector.store.sql import processes as repo
from connector.web import inputs
from connector.web.openapi import RouteGroup

NEGOTIATION_FIELDS = ("peer", "counterPartyAddress", "counterPartyId", "offerId", "datasetId", "offer", "purpose")
TRANSFER_FIELDS = ("agreementId", "format", "dataDestination")
# What the lists' `state` and `role` filters take.
NEGOTIATION_STATES = tuple(s.value for s in NegotiationState)
TRANSFER_STATES = tuple(s.value for s in TransferState)
ROLES = tuple(r.value for r in Role)
MAX_WAIT = 300.0  # the longest `?wait=...&timeout=` one request is answered after; clients ask again for more


def _summary(catalog: Any) -> list[dict[str, Any]]:
    out = []
    for dataset in catalog.datasets:
        ext = dict(dataset.extensions or {})
        out.append(
            {
                "id": dataset.id,
                "title": ext.get("dct:title") or ext.get("title"),
                "description": ext.get("dct:description") or ext.get("description"),
                "formats": sorted({d.format for d in dataset.distributions}),
                "offers": [dict(o) for o in dataset.has_policy],
            }
        )
    return out


def _same_id(wanted: str, listed: object) -> bool:
    return listed == wanted


_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


def _same_edc_offer(wanted: str, listed: object) -> bool:
    """EDC's offer ids are base64 of the contract definition, the asset and a random part drawn anew for every
    catalogue, and EDC reads only the first two: an id seen in an earlier catalogue names the offer that has the
    same definition and asset now."""
    if not isinstance(listed, str):
        return False
    ours, theirs = wanted.split(":"), listed.split(":")
    parts = ours + theirs
    return len(ours) == len(theirs) == 3 and ours[:2] == theirs[:2] and all(_BASE64.match(p) for p in parts)


@dataclass(frozen=True)
class _WithHistory:
    """A process record read together with its history (one read where the answer needs both)."""

    record: Any
    history: list[Any]

    @property
    def state(self) -> Any:
        return self.record.state

    @property
    def is_terminal(self) -> bool:
        return bool(self.record.is_terminal)

    def to_api(self) -> dict[str, Any]:
        return {**self.record.to_api(), "history": [h.to_api() for h in self.history]}


def _with_history(get: Any) -> Any:
    def load(db: Any, pid: str) -> _WithHistory | None:
        record = get(db, pid)
        return None if record is None else _WithHistory(record, repo.history(db, pid))

    return load


# Before a consumer's transfer is reported complete: record the data received into `file` (its usage duties).
BeforeComplete = Callable[[str, str | None], Awaitable[None]]


class ProcessRoutes:
    def __init__(
        self, control: ControlPlane, peers: Sequence[PeerEntry] = (), before_complete: BeforeComplete | None = None
    ) -> None:
        self.control = control
        self.peers = tuple(peers)
        self.before_complete = before_complete

    def group(self) -> RouteGroup:
        return RouteGroup(
            [
                web.post("/v1/catalog/request", self.catalog_request),
                web.get("/v1/negotiations", self.list_negotiations),
                web.post("/v1/negotiations", self.start_negotiation),
                web.get("/v1/negotiations/{id}", self.get_negotiation),
                web.post("/v1/negotiations/{id}/{action:terminate|accept}", self.negotiation_command),
                web.get("/v1/agreements", self.list_agreements),
                web.get("/v1/agreements/{id}", self.get_agreement),
                web.get("/v1/transfers", self.list_transfers),
                web.post("/v1/transfers", self.start_transfer),
                web.get("/v1/transfers/{id}", self.get_transfer),
                web.post("/v1/transfers/{id}/{action:suspend|resume|complete|terminate}", self.transfer_command),
            ]
        )

    def resolve_peer(self, request: web.Request, body: Mapping[str, Any]) -> tuple[str, str | None]:
        """(DSP address, participant id or None) from `peer` (a configured name) or `counterPartyAddress`; a
        `counterPartyId` given with a peer name must be the one configured for it (or stands in for it)."""
        name = inputs.string(body, "peer", required=False)
        if name is not None:
            peer = next((p for p in self.peers if p.name == name), None)
            if peer is None:
                known = ", ".join(p.name for p in self.peers) or "none configured"
                raise ConnectorError(
                    "peer.unknown", f"no peer named '{name}' in the configuration (known: {known})", "peer"
                )
            given = inputs.string(body, "counterPartyId", required=False)
            if given and peer.participant_id and given != peer.participant_id:
                raise ConnectorError(
                    "request.invalid",
                    f"the peer '{name}' is configured as {peer.participant_id}, not {given}",
                    "counterPartyId",
                )
            return peer.address, peer.participant_id or given or None
        address = inputs.string(body, "counterPartyAddress", required=False)
        if address is None:
            raise ConnectorError(
                "request.missing", "give 'peer' (a configured name) or 'counterPartyAddress'", "counterPartyAddress"
            )
        if not address.startswith(("https://", "http://")):
            raise ConnectorError(
                "request.invalid", "'counterPartyAddress' must be the peer's DSP base URL", "counterPartyAddress"
            )
        return address.rstrip("/"), inputs.string(body, "counterPartyId", required=False)

    async def catalog_request(self, request: web.Request) -> web.Response:
        body = await inputs.body_object(request)
        inputs.unknown_keys(body, ("peer", "counterPartyAddress", "counterPartyId"))
        address, peer_id = self.resolve_peer(request, body)
        catalog = await self.control.catalog.fetch(address, peer_id)
        return web.json_response(
            {
                "participantId": catalog.participant_id,
                "address": address,
                "datasets": _summary(catalog),
                "catalog": catalog.to_json(),
            }
        )

    # --- negotiations -----------------------------------------------------------------------------------------------

    async def list_negotiations(self, request: web.Request) -> web.Response:
        p = inputs.page(request)
        items, total = await self.control.store.read(
            repo.list_negotiations,
            p.limit,
            p.offset,
            inputs.choice(request.query, "state", NEGOTIATION_STATES),
            inputs.choice(request.query, "role", ROLES),
        )
        return p.response(request, [n.to_api() for n in items], total)

    async def start_negotiation(self, request: web.Request) -> web.Response:
        body = await inputs.body_object(request)
        inputs.unknown_keys(body, NEGOTIATION_FIELDS)
        address, peer_id = self.resolve_peer(request, body)
        offer_id = inputs.string(body, "offerId", required=False)
        dataset_id = inputs.string(body, "datasetId", required=False)
        purpose = inputs.string(body, "purpose", required=False)
        offer = inputs.obj(body, "offer", required=False)
        if peer_id is None and address.startswith("https:"):
            peer_id = await self.control.catalog.identify(address)
        if offer is None:
            if offer_id is None:
                raise ConnectorError(
                    "request.missing", "give 'offerId' (and ideally 'datasetId') or a full 'offer'", "offerId"
                )
            offer, dataset_id, learned = await self._find_offer(address, peer_id, offer_id, dataset_id)
            peer_id = peer_id or learned
        else:
            dataset_id = dataset_id or offer.get("target")
            if not isinstance(offer.get("@id"), str):
                raise ConnectorError("request.invalid", "the offer needs an '@id'", "offer.@id")
        if not dataset_id:
            raise ConnectorError(
                "request.missing", "the dataset the offer is for is unknown; give 'datasetId'", "datasetId"
            )
        if not peer_id:
            raise ConnectorError(
                "request.missing", "the provider's participant id is unknown; give 'counterPartyId'", "counterPartyId"
            )
        neg = await self.control.start_negotiation(peer_id, address, offer, dataset_id, purpose)
        return web.json_response(neg.to_api(), status=201, headers={"Location": f"/v1/negotiations/{neg.id}"})

    async def _find_offer(
        self, address: str, peer_id: str | None, offer_id: str, dataset_id: str | None
    ) -> tuple[dict[str, Any], str, str | None]:
        if dataset_id is not None:
            dataset = await self.control.catalog.fetch_dataset(address, peer_id, dataset_id)
            candidates = [(dataset, o) for o in dataset.has_policy]
            learned = peer_id
        else:
            catalog = await self.control.catalog.fetch(address, peer_id)
            candidates = [(d, o) for d in catalog.datasets for o in d.has_policy]
            learned = catalog.participant_id
        for same in (_same_id, _same_edc_offer):
            for dataset, offer in candidates:
                if same(offer_id, offer.get("@id")):
                    return {**dict(offer), "target": dataset.id}, dataset.id, learned
        raise ConnectorError(
            "offer.not_found",
            f"the peer offers no '{offer_id}' to this node" + (f" for dataset '{dataset_id}'" if dataset_id else ""),
            "offerId",
        )

    async def _wait(self, request: web.Request, load: Any, pid: str, states: Sequence[str]) -> Any:
        """`?wait=STATE,STATE&timeout=S`: answer once the process is in one of the states (or the time is up)."""
        wanted = {s.strip().upper() for s in request.query.get("wait", "").split(",") if s.strip()}
        unknown = sorted(wanted - set(states))
        if unknown:
            raise ConnectorError(
                "request.invalid", f"'wait' names '{unknown[0]}': the states are {', '.join(states)}", "wait"
            )
        try:
            timeout = float(request.query.get("timeout", "30"))
        except ValueError:
            timeout = math.nan
        if math.isnan(timeout):
            raise ConnectorError("request.invalid", "'timeout' must be a number of seconds", "timeout")
        deadline = time.monotonic() + min(timeout, MAX_WAIT)
        engine = self.control.engine
        with engine.watching(pid) as watch:
            changed = watch.changed  # taken before reading, so that no change after the read goes unnoticed
            record = await self.control.store.read(load, pid)
            while True:
                if record is None:
                    return None
                if not wanted or str(record.state) in wanted or record.is_terminal:
                    return record
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return record
                woken = await engine.wait_for(changed, min(remaining, 5.0))
                changed = watch.changed
                if woken and watch.state is not None and watch.state not in wanted and not watch.terminal:
                    continue  # it changed, into a state nobody here waits for: reading it would tell nothing new
                record = await self.control.store.read(load, pid)

    async def get_negotiation(self, request: web.Request) -> web.Response:
        pid = request.match_info["id"]
        neg = await self._wait(request, _with_history(repo.get_negotiation), pid, NEGOTIATION_STATES)
        if neg is None:
            raise ConnectorError("negotiation.not_found", f"no negotiation '{pid}'")
        return web.json_response(neg.to_api())

    async def negotiation_command(self, request: web.Request) -> web.Response:
        body = await inputs.body_object(request) if request.can_read_body else {}
        inputs.unknown_keys(body, ("reason",))
        action = request.match_info["action"]
        neg = await self.control.command(
            "negotiation", request.match_info["id"], action, inputs.string(body, "reason", required=False)
        )
        return web.json_response(neg.to_api())

    # --- agreements -------------------------------------------------------------------------------------------------

    async def list_agreements(self, request: web.Request) -> web.Response:
        p = inputs.page(request)
        items, total = await self.control.store.read(repo.list_agreements, p.limit, p.offset)
        return p.response(request, [a.to_api() for a in items], total)

    async def get_agreement(self, request: web.Request) -> web.Response:
        agreement = await self.control.store.read(repo.get_agreement, request.match_info["id"])
        if agreement is None:
            raise ConnectorError("agreement.not_found", f"no agreement '{request.match_info['id']}'")
        return web.json_response(agreement.to_api())

    # --- transfers --------------------------------------------------------------------------------------------------

    async def list_transfers(self, request: web.Request) -> web.Response:
        p = inputs.page(request)
        items, total = await self.control.store.read(
            repo.list_transfers,
            p.limit,
            p.offset,
            inputs.choice(request.query, "state", TRANSFER_STATES),
            inputs.choice(request.query, "role", ROLES),
            request.query.get("agreementId"),
        )
        return p.response(request, [t.to_api() for t in items], total)

    async def start_transfer(self, request: web.Request) -> web.Response:
        body = await inputs.body_object(request)
        inputs.unknown_keys(body, TRANSFER_FIELDS)
        agreement_id = inputs.string(body, "agreementId")
        fmt = inputs.string(body, "format", required=False, default="HttpData-PULL")
        destination = inputs.obj(body, "dataDestination", required=False)
        assert agreement_id is not None and fmt is not None  # required, and defaulted
        tp = await self.control.start_transfer(agreement_id, fmt, destination)
        return web.json_response(tp.to_api(), status=201, headers={"Location": f"/v1/transfers/{tp.id}"})

    async def get_transfer(self, request: web.Request) -> web.Response:
        pid = request.match_info["id"]
        tp = await self._wait(request, _with_history(repo.get_transfer), pid, TRANSFER_STATES)
        if tp is None:
            raise ConnectorError("transfer.not_found", f"no transfer '{pid}'")
        return web.json_response(tp.to_api())

    async def transfer_command(self, request: web.Request) -> web.Response:
        body = await inputs.body_object(request) if request.can_read_body else {}
        action = request.match_info["action"]
        inputs.unknown_keys(body, ("reason", "file") if action == "complete" else ("reason",))
        file = inputs.string(body, "file", required=False)
        if action == "complete" and self.before_complete is not None:
            await self.before_complete(request.match_info["id"], file)
        tp = await self.control.command(
            "transfer",
            request.match_info["id"],
            action,
            inputs.string(body, "reason", required=False),
        )
        return web.json_response(tp.to_api())
