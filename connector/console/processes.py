"""Negotiations, transfers and agreements: lists, and each one with its state timeline, the decisions taken on it
(the policy trace), the counterparty's verified claims, and the commands its state allows."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from connector.console import explain
from connector.console.api import ApiProblem, path
from connector.console.kit import Kit, Route
from connector.console.rendering import see_other

PAGE = 25
NEGOTIATION_COMMANDS = {"terminate": "Terminate"}
TRANSFER_COMMANDS = {"suspend": "Suspend", "resume": "Resume", "complete": "Complete", "terminate": "Terminate"}


def _offset(request: web.Request) -> int:
    try:
        return max(0, int(request.query.get("offset", "0")))
    except ValueError:
        return 0


def transfer_commands(transfer: dict[str, Any]) -> list[str]:
    """The commands worth offering in the transfer's state (the API has the last word)."""
    state = transfer.get("state")
    if state == "STARTED":
        return ["suspend", "terminate"]
    if state == "SUSPENDED":
        return ["resume", "terminate"]
    if state == "REQUESTED":
        return ["terminate"]
    return []


class Processes:
    def __init__(self, kit: Kit) -> None:
        self.kit = kit

    def routes(self) -> list[Route]:
        return [
            ("GET", "/negotiations", self.negotiations),
            ("GET", "/negotiations/{id}", self.negotiation),
            ("POST", "/negotiations/{id}/{action:terminate}", self.negotiation_command),
            ("GET", "/transfers", self.transfers),
            ("GET", "/transfers/{id}", self.transfer),
            ("POST", "/transfers/{id}/{action:suspend|resume|complete|terminate}", self.transfer_command),
            ("GET", "/agreements", self.agreements),
            ("GET", "/agreements/{id}", self.agreement),
            ("GET", "/agreements/{id}/bundle", self.bundle),
        ]

    async def _list(self, request: web.Request, kind: str, states: tuple[str, ...]) -> web.StreamResponse:
        state = request.query.get("state", "")
        role = request.query.get("role", "")
        offset = _offset(request)
        page = await self.kit.api.call(
            "GET", path(f"/v1/{kind}", limit=PAGE, offset=offset, state=state or None, role=role or None)
        )
        return self.kit.render(
            request,
            "process_list.html",
            kind=kind,
            page=page,
            states=states,
            state=state,
            role=role,
            offset=offset,
            size=PAGE,
        )

    async def negotiations(self, request: web.Request) -> web.StreamResponse:
        return await self._list(request, "negotiations", explain.NEGOTIATION_STATES)

    async def transfers(self, request: web.Request) -> web.StreamResponse:
        return await self._list(request, "transfers", explain.TRANSFER_STATES)

    async def agreements(self, request: web.Request) -> web.StreamResponse:
        offset = _offset(request)
        page = await self.kit.api.call("GET", path("/v1/agreements", limit=PAGE, offset=offset))
        return self.kit.render(request, "agreements.html", page=page, offset=offset, size=PAGE)

    async def _process(self, request: web.Request, kind: str, commands: dict[str, str]) -> web.StreamResponse:
        record = await self.kit.api.call("GET", path(f"/v1/{kind}", request.match_info["id"]))
        history = record.get("history", [])
        offered = commands if kind == "negotiations" else {c: commands[c] for c in transfer_commands(record)}
        if kind == "negotiations" and record.get("state") in explain.TERMINAL:
            offered = {}
        return self.kit.render(
            request,
            "process.html",
            kind=kind,
            record=record,
            timeline=explain.timeline(history),
            decisions=explain.decisions(history),
            commands=offered,
            terminal=record.get("state") in explain.TERMINAL,
            explain=explain,
        )

    async def negotiation(self, request: web.Request) -> web.StreamResponse:
        return await self._process(request, "negotiations", NEGOTIATION_COMMANDS)

    async def transfer(self, request: web.Request) -> web.StreamResponse:
        return await self._process(request, "transfers", TRANSFER_COMMANDS)

    async def _command(self, request: web.Request, kind: str) -> web.StreamResponse:
        pid, action = request.match_info["id"], request.match_info["action"]
        reason = self.kit.text(request, "reason")
        try:
            await self.kit.api.call("POST", path(f"/v1/{kind}", pid, action), {"reason": reason} if reason else {})
            self.kit.tell(request, f"Asked the node to {action} it.")
        except ApiProblem as problem:
            self.kit.tell(request, f"The node refused to {action} it: {problem.reason} ({problem.code})")
        return see_other(path(f"/console/{kind}", pid))

    async def negotiation_command(self, request: web.Request) -> web.StreamResponse:
        return await self._command(request, "negotiations")

    async def transfer_command(self, request: web.Request) -> web.StreamResponse:
        return await self._command(request, "transfers")

    async def agreement(self, request: web.Request) -> web.StreamResponse:
        kit = self.kit
        aid = request.match_info["id"]
        agreement = await kit.api.call("GET", path("/v1/agreements", aid))
        transfers, _ = await kit.maybe("GET", path("/v1/transfers", agreementId=aid, limit=100))
        signatures, _ = await kit.maybe("GET", path("/v1/evidence/agreements", aid, "signatures"))
        bundle, bundle_problem = await kit.maybe("GET", path("/v1/evidence/agreements", aid, "bundle"))
        negotiation, _ = await kit.maybe("GET", path("/v1/negotiations", agreement.get("negotiationId") or "-"))
        checkpoint = None
        if bundle is not None:
            upto = bundle.get("log", {}).get("proof", {}).get("upto")
            checkpoints, _ = await kit.maybe("GET", path("/v1/evidence/checkpoints", limit=500))
            checkpoint = next((c for c in (checkpoints or {}).get("items", []) if c.get("count") == upto), None)
        return kit.render(
            request,
            "agreement.html",
            agreement=agreement,
            negotiation=negotiation,
            transfers=(transfers or {}).get("items", []),
            signatures=(signatures or {}).get("signatures", {}),
            bundle=bundle,
            bundle_problem=bundle_problem,
            checkpoint=checkpoint,
            terms=explain.policy_words(agreement.get("policy")),
        )

    async def bundle(self, request: web.Request) -> web.StreamResponse:
        aid = request.match_info["id"]
        document = await self.kit.api.call("GET", path("/v1/evidence/agreements", aid, "bundle"))
        name = "agreement-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in aid.split(":")[-1])
        return web.Response(
            body=(json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8"),
            content_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{name}.bundle.json"'},
        )
