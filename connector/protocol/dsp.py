"""The DSP 2025-1 HTTPS binding: catalogue, contract negotiation and transfer process endpoints, both roles.

Every handler does the same four things: authenticate the caller through the verifier seam (an unauthorised
caller gets 404, as DSP prescribes), parse and validate the message (a malformed one gets 400 with a DSP error
body naming the offending field), apply it in one transaction through the control plane, and answer. Process
endpoints serve both roles: a pid names our own process, and the record knows which side we are on.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from connector.control.events import Received
from connector.control.outcome import Reply
from connector.control.plane import ControlPlane
from connector.control.steps import KINDS
from connector.dsp.messages import (
    CatalogError,
    ContractAgreementMessage,
    ContractAgreementVerificationMessage,
    ContractNegotiationError,
    ContractNegotiationEventMessage,
    ContractNegotiationTerminationMessage,
    ContractOfferMessage,
    ContractRequestMessage,
    TransferCompletionMessage,
    TransferError,
    TransferRequestMessage,
    TransferStartMessage,
    TransferSuspensionMessage,
    TransferTerminationMessage,
    parse_message,
)
from connector.dsp.pagination import CURSOR_PARAMETER
from connector.dsp.versions import DSP_BASE_PATH
from connector.errors import ConnectorError, Problem
from connector.protocol.auth import Authenticator, RefusalLog
from connector.trust.claims import VerifiedClaims
from connector.web.middleware import PEER

log = logging.getLogger("connector.dsp")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(reply: Reply, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=reply.status, text=json.dumps(reply.body), content_type="application/json", headers=headers
    )


def _error_body(kind: str, problem: Problem, body: Any, path_pid: str | None = None) -> dict[str, Any]:
    pids: dict[str, str] = {
        k: (value if isinstance(body, dict) and isinstance(value := body.get(k), str) else "")
        for k in ("providerPid", "consumerPid")
    }
    if kind == "negotiation":
        return ContractNegotiationError.from_problem(
            problem, provider_pid=pids["providerPid"], consumer_pid=pids["consumerPid"]
        ).to_json()
    if kind == "transfer":
        return TransferError.from_problem(
            problem, provider_pid=pids["providerPid"], consumer_pid=pids["consumerPid"]
        ).to_json()
    return CatalogError.from_problem(problem).to_json()


def _tls_peer(request: web.Request) -> str | None:
    peer = request.get(PEER)
    return peer.participant_id if peer else None


async def _read_body(request: web.Request) -> Any:
    text = await request.text()
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConnectorError("dsp.invalid_json", f"the body is not valid JSON: {exc}", "$") from None


class DspRoutes:
    """Every endpoint of the binding, for one node: authenticated through `authenticator`, applied through
    `control`; refusals at the edge are logged as evidence through `refusals`."""

    def __init__(self, control: ControlPlane, authenticator: Authenticator, refusals: RefusalLog) -> None:
        self.control = control
        self.authenticator = authenticator
        self.refusals = refusals

    async def authenticate(self, request: web.Request) -> VerifiedClaims | None:
        try:
            return await self.authenticator.authenticate(request)
        except ConnectorError as exc:
            log.warning(
                "peer refused: %s",
                exc.reason,
                extra={"code": exc.code, "path": request.path, "peer": _tls_peer(request)},
            )
            await self.refusals.record_refusal(exc.problem, _tls_peer(request), request.path)
            return None

    def message_endpoint(self, kind: str, expected: str, with_pid: bool = True) -> Handler:
        """A POST endpoint that takes one DSP message type and applies it through the control plane."""

        async def handler(request: web.Request) -> web.Response:
            path_pid = request.match_info.get("pid") if with_pid else None
            claims = await self.authenticate(request)
            if claims is None:
                problem = Problem(f"dsp.{kind}.not_found", "unknown process, or this caller may not use it")
                return _json(Reply(404, _error_body(kind, problem, None)))
            body: Any = None
            try:
                body = await _read_body(request)
                msg = parse_message(body, expected=expected)
            except ConnectorError as exc:
                return _json(Reply(400, _error_body(kind, exc.problem, body, path_pid)))
            reply = await self.control.receive(kind, Received(self.control.peer(claims), msg, body, path_pid))
            return _json(reply)

        return handler

    def process_getter(self, kind: str) -> Handler:
        async def handler(request: web.Request) -> web.Response:
            claims = await self.authenticate(request)
            pid = request.match_info["pid"]
            if claims is None:
                return _json(KINDS[kind].not_found(pid))
            return _json(await self.control.process_view(kind, pid, claims))

        return handler

    # --- catalogue --------------------------------------------------------------------------------------------------

    async def catalog_request(self, request: web.Request) -> web.Response:
        claims = await self.authenticate(request)
        body: Any = None
        try:
            body = await _read_body(request)
            parse_message(body, expected="CatalogRequestMessage")
            cursor = request.query.get(CURSOR_PARAMETER)
            if claims is None:  # an unauthorised caller sees an empty catalogue, not an error it could probe
                from connector.dsp import catalog_builder

                empty = catalog_builder.build_catalog(
                    f"{self.control.participant_id}#catalog",
                    participant_id=self.control.participant_id,
                    services=[self.control.catalog.data_service()],
                    datasets=[],
                )
                return web.json_response(empty.to_json())
            page_url = str(request.url.with_query(None))
            catalog, links, hidden = await self.control.catalog.catalogue_page(claims, cursor, page_url)
        except ConnectorError as exc:
            return web.json_response(_error_body("catalog", exc.problem, body), status=400)
        if hidden:
            log.info("catalogue filtered", extra={"peer": claims.participant_id, "hidden_offers": len(hidden)})
        headers = {"Link": ", ".join(links)} if links else None
        return web.Response(text=json.dumps(catalog), content_type="application/json", headers=headers)

    async def dataset_request(self, request: web.Request) -> web.Response:
        claims = await self.authenticate(request)
        dataset_id = request.match_info["id"]
        dataset = await self.control.catalog.dataset(claims, dataset_id) if claims is not None else None
        if dataset is None:
            problem = Problem("dsp.catalog.not_found", f"no dataset '{dataset_id}' is offered to this caller")
            return web.json_response(_error_body("catalog", problem, None), status=404)
        return web.json_response(dataset)

    # --- routes -----------------------------------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        b = DSP_BASE_PATH
        N, T = "negotiation", "transfer"
        return [
            web.post(f"{b}/catalog/request", self.catalog_request),
            web.get(f"{b}/catalog/datasets/{{id}}", self.dataset_request),
            # negotiations (provider side first, then consumer callbacks; `events` and `termination` serve both)
            web.get(f"{b}/negotiations/{{pid}}", self.process_getter(N)),
            web.post(
                f"{b}/negotiations/request",
                self.message_endpoint(N, ContractRequestMessage.TYPE, with_pid=False),
            ),
            web.post(
                f"{b}/negotiations/{{pid}}/request",
                self.message_endpoint(N, ContractRequestMessage.TYPE),
            ),
            web.post(
                f"{b}/negotiations/{{pid}}/events",
                self.message_endpoint(N, ContractNegotiationEventMessage.TYPE),
            ),
            web.post(
                f"{b}/negotiations/{{pid}}/agreement/verification",
                self.message_endpoint(N, ContractAgreementVerificationMessage.TYPE),
            ),
            web.post(
                f"{b}/negotiations/{{pid}}/termination",
                self.message_endpoint(N, ContractNegotiationTerminationMessage.TYPE),
            ),
            web.post(
                f"{b}/negotiations/offers",
                self.message_endpoint(N, ContractOfferMessage.TYPE, with_pid=False),
            ),
            web.post(
                f"{b}/negotiations/{{pid}}/offers",
                self.message_endpoint(N, ContractOfferMessage.TYPE),
            ),
            web.post(
                f"{b}/negotiations/{{pid}}/agreement",
                self.message_endpoint(N, ContractAgreementMessage.TYPE),
            ),
            # transfers (both roles on the same paths)
            web.get(f"{b}/transfers/{{pid}}", self.process_getter(T)),
            web.post(
                f"{b}/transfers/request",
                self.message_endpoint(T, TransferRequestMessage.TYPE, with_pid=False),
            ),
            web.post(
                f"{b}/transfers/{{pid}}/start",
                self.message_endpoint(T, TransferStartMessage.TYPE),
            ),
            web.post(
                f"{b}/transfers/{{pid}}/completion",
                self.message_endpoint(T, TransferCompletionMessage.TYPE),
            ),
            web.post(
                f"{b}/transfers/{{pid}}/suspension",
                self.message_endpoint(T, TransferSuspensionMessage.TYPE),
            ),
            web.post(
                f"{b}/transfers/{{pid}}/termination",
                self.message_endpoint(T, TransferTerminationMessage.TYPE),
            ),
        ]
