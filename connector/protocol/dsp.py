"""The DSP 2025-1 HTTPS binding: catalogue, contract negotiation and transfer process endpoints, both roles.

Every handler does the same four things: authenticate the caller through the verifier seam before a byte of the
body is read, read and parse the message (bounded in size and time, strict JSON; a malformed one gets 400 with a
DSP error body naming the offending field), apply it in one transaction through the control plane, and answer.
Process endpoints serve both roles: a pid names our own process, and the record knows which side we are on.
What ends up in URLs this node builds later is checked on arrival: a process id, in the path or in the body, must
be an opaque path segment, and a callbackAddress an https URL (plain http only in the loopback test profile).

A caller that is not verified gets the binding's answer with the protocol's error body carrying the reason code
(`credential.revoked`, `token.expired`, ...): 404 on the negotiation and transfer endpoints, as DSP prescribes
for unauthorised access, 401 on the catalogue. When the verification could not be completed right now (a DID
document, a presentation or a status list could not be fetched) the answer is 503 with Retry-After: the caller
retries, and a process is never ended because of a passing failure.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from connector.config import LimitsSection
from connector.control.control_plane import ControlPlane
from connector.control.events import Received
from connector.control.outcome import Reply
from connector.dsp.pagination import CURSOR_PARAMETER
from connector.dsp.versions import DSP_BASE_PATH
from connector.dsp.vocabulary import MessageType
from connector.errors import ConnectorError, Problem
from connector.protocol.auth import Authenticator, RefusalLog
from connector.store.errors import StoreUnavailable
from connector.trust.claims import VerifiedClaims
from connector.web.bodies import CLOSING, read_json
from connector.web.middleware import PEER

log = logging.getLogger("connector.dsp")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _json(reply: Reply, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=reply.status, text=json.dumps(reply.body), content_type="application/json", headers=headers
    )


def transient(problem: Problem) -> bool:
    """A refusal that says "not now" rather than "no": the caller should retry. A store that is closing (the node
    is stopping) is one: whatever could not be checked or applied because of it is not the caller's fault."""
    return problem.code.endswith((".unavailable", ".busy")) or problem.code == "store.closed"


def _kind_of(path: str) -> str:
    if path.startswith(DSP_BASE_PATH + "/negotiations"):
        return "negotiation"
    if path.startswith(DSP_BASE_PATH + "/transfers"):
        return "transfer"
    return "catalog"


def error_response(kind: str, status: int, problem: Problem, body: Any = None) -> web.Response:
    """The binding's error answer: `status` and the protocol's error body for `kind` (negotiation, transfer,
    catalog). Transient problems get Retry-After; a body that was not read in full closes the connection."""
    response = web.json_response(_error_body(kind, problem, body), status=status)
    if transient(problem):
        response.headers["Retry-After"] = "1"
    if problem.code in CLOSING:
        response.force_close()
    return response


def refusal_response(request: web.Request, status: int, problem: Problem) -> web.StreamResponse:
    """The listener-wide refusals (request limits) in the protocol's error body of the endpoint asked."""
    return error_response(_kind_of(request.path), status, problem)


@web.middleware
async def dsp_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Whatever goes wrong while a message is handled, the caller gets the protocol's error body: 503 with
    Retry-After when the store cannot be used right now (the caller retries; nothing was committed), 400 for a
    refusal that escaped its handler, 500 for a failure of ours (logged with the request id)."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except ConnectorError as exc:
        status = 503 if transient(exc.problem) else _body_status(exc.problem)
        return refusal_response(request, status, exc.problem)
    except (StoreUnavailable, sqlite3.Error) as exc:  # sqlite3 directly too, until nothing raises it past the seam
        log.error("store failed while handling %s: %s", request.path, exc)
        return refusal_response(
            request, 503, Problem("store.unavailable", "the node cannot use its store right now; retry shortly")
        )
    except Exception:
        log.exception("unexpected failure while handling %s", request.path)
        return refusal_response(request, 500, Problem("internal", "the node failed unexpectedly; see its log"))


def _body_status(problem: Problem) -> int:
    return {"request.too_large": 413, "request.timeout": 408}.get(problem.code, 400)


def _unverified(kind: str, problem: Problem) -> web.Response:
    """A caller that is not verified: 503 when verification could not be completed now, else 401 (catalogue) or
    404 (processes, as DSP prescribes for unauthorised access); the body carries the reason code."""
    if transient(problem):
        return error_response(kind, 503, problem)
    return error_response(kind, 401 if kind == "catalog" else 404, problem)


def _error_body(kind: str, problem: Problem, body: Any, path_pid: str | None = None) -> dict[str, Any]:
    from connector.dsp.messages import CatalogError, ContractNegotiationError, TransferError

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


def _path_pid_refused(kind: str, pid: str | None) -> web.Response | None:
    """A process id in the path that cannot be one (see process_messages.pid_problem): refused by name."""
    from connector.dsp.process_messages import pid_problem

    why = pid_problem(pid) if pid is not None else None
    if why is None:
        return None
    return error_response(kind, 400, Problem("dsp.invalid_message", f"the process id in the path {why}", "path"))


def _tls_peer(request: web.Request) -> str | None:
    peer = request.get(PEER)
    return peer.participant_id if peer else None


class DspRoutes:
    """Every endpoint of the binding, for one node: authenticated through `authenticator`, applied through
    `control`; refusals at the edge are logged as evidence through `refusals`."""

    def __init__(
        self, control: ControlPlane, authenticator: Authenticator, refusals: RefusalLog, limits: LimitsSection
    ) -> None:
        self.control = control
        self.authenticator = authenticator
        self.refusals = refusals
        self.limits = limits

    async def authenticate(self, request: web.Request) -> VerifiedClaims | Problem:
        """The caller's verified claims, or the problem that refused it (logged, and recorded as evidence)."""
        try:
            return await self.authenticator.authenticate(request)
        except ConnectorError as exc:
            log.warning(
                "peer refused: %s",
                exc.reason,
                extra={"code": exc.code, "path": request.path, "peer": _tls_peer(request)},
            )
            await self.refusals.record_refusal(exc.problem, _tls_peer(request), request.path)
            return exc.problem

    async def read_message(self, request: web.Request) -> Any:
        return await read_json(request, self.limits.max_message_bytes, self.limits.body_timeout)

    def message_endpoint(self, kind: str, expected: str, with_pid: bool = True) -> Handler:
        """A POST endpoint that takes one DSP message type and applies it through the control plane."""

        async def handler(request: web.Request) -> web.Response:
            from connector.dsp.messages import parse_message  # the DSP messages: with the first one received

            path_pid = request.match_info.get("pid") if with_pid else None
            claims = await self.authenticate(request)
            if isinstance(claims, Problem):
                return _unverified(kind, claims)
            refused = _path_pid_refused(kind, path_pid)
            if refused is not None:
                return refused
            body: Any = None
            try:
                body = await self.read_message(request)
                msg = parse_message(body, expected=expected)
            except ConnectorError as exc:
                return error_response(kind, _body_status(exc.problem), exc.problem, body)
            reply = await self.control.receive(kind, Received(self.control.peer(claims), msg, body, path_pid))
            return _json(reply)

        return handler

    def process_getter(self, kind: str) -> Handler:

        async def handler(request: web.Request) -> web.Response:
            claims = await self.authenticate(request)
            pid = request.match_info["pid"]
            if isinstance(claims, Problem):
                return _unverified(kind, claims)
            return _path_pid_refused(kind, pid) or _json(await self.control.process_view(kind, pid, claims))

        return handler

    # --- catalogue --------------------------------------------------------------------------------------------------

    async def catalog_request(self, request: web.Request) -> web.Response:
        from connector.dsp.messages import parse_message

        claims = await self.authenticate(request)
        if isinstance(claims, Problem):
            return _unverified("catalog", claims)
        body: Any = None
        try:
            body = await self.read_message(request)
            parse_message(body, expected="CatalogRequestMessage")
            cursor = request.query.get(CURSOR_PARAMETER)
            page_url = str(request.url.with_query(None))
            catalog, links, hidden = await self.control.catalog.catalogue_page(claims, cursor, page_url)
        except ConnectorError as exc:
            return error_response("catalog", _body_status(exc.problem), exc.problem, body)
        if hidden:
            log.info("catalogue filtered", extra={"peer": claims.participant_id, "hidden_offers": hidden})
        headers = {"Link": ", ".join(links)} if links else None
        return web.Response(text=json.dumps(catalog), content_type="application/json", headers=headers)

    async def dataset_request(self, request: web.Request) -> web.Response:
        claims = await self.authenticate(request)
        if isinstance(claims, Problem):
            return _unverified("catalog", claims)
        dataset_id = request.match_info["id"]
        dataset = await self.control.catalog.dataset(claims, dataset_id)
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
                self.message_endpoint(N, MessageType.CONTRACT_REQUEST.value, with_pid=False),
            ),
            web.post(
                f"{b}/negotiations/{{pid}}/request",
                self.message_endpoint(N, MessageType.CONTRACT_REQUEST.value),
            ),
            web.post(
                f"{b}/negotiations/{{pid}}/events",
                self.message_endpoint(N, MessageType.CONTRACT_NEGOTIATION_EVENT.value),
            ),
            web.post(
                f"{b}/negotiations/{{pid}}/agreement/verification",
                self.message_endpoint(N, MessageType.CONTRACT_AGREEMENT_VERIFICATION.value),
            ),
            web.post(
                f"{b}/negotiations/{{pid}}/termination",
                self.message_endpoint(N, MessageType.CONTRACT_NEGOTIATION_TERMINATION.value),
            ),
            web.post(
                f"{b}/negotiations/offers",
                self.message_endpoint(N, MessageType.CONTRACT_OFFER.value, with_pid=False),
            ),
            web.post(
                f"{b}/negotiations/{{pid}}/offers",
                self.message_endpoint(N, MessageType.CONTRACT_OFFER.value),
            ),
            web.post(
                f"{b}/negotiations/{{pid}}/agreement",
                self.message_endpoint(N, MessageType.CONTRACT_AGREEMENT.value),
            ),
            # transfers (both roles on the same paths)
            web.get(f"{b}/transfers/{{pid}}", self.process_getter(T)),
            web.post(
                f"{b}/transfers/request",
                self.message_endpoint(T, MessageType.TRANSFER_REQUEST.value, with_pid=False),
            ),
            web.post(
                f"{b}/transfers/{{pid}}/start",
                self.message_endpoint(T, MessageType.TRANSFER_START.value),
            ),
            web.post(
                f"{b}/transfers/{{pid}}/completion",
                self.message_endpoint(T, MessageType.TRANSFER_COMPLETION.value),
            ),
            web.post(
                f"{b}/transfers/{{pid}}/suspension",
                self.message_endpoint(T, MessageType.TRANSFER_SUSPENSION.value),
            ),
            web.post(
                f"{b}/transfers/{{pid}}/termination",
                self.message_endpoint(T, MessageType.TRANSFER_TERMINATION.value),
            ),
        ]
