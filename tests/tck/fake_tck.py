"""The TCK's side of the wire: an HTTP server on loopback playing the TCK's own connector.

It answers the node's messages the way the TCK does (TCK.md 3.2): 200 with a ContractNegotiation/TransferProcess
to initial requests (never 201), 200 with an empty body to agreements, events and verifications, 409 with a
TransferError when a transfer message is an invalid move for the TCK's machine. It keeps the TCK's own view of
every process (`tck_machines`), and checks every document the node sends with `wire_checks`.

A test waits for the node's next message with `await tck.expect(kind, pid)`. Like the TCK, the fake only
*handles* a message somebody waits for; what it does with a message that arrives before anybody waits depends on
`strict`:
  * False (default): it is handled at once and kept until a test asks for it;
  * True: it is answered 404 "No handler registered on this endpoint" and forgotten, which is what the real TCK
    does between two steps of a scenario, so the node has to retry it.
Register an expectation *before* the step that triggers the message (the TCK does the same); `expect` does so at
the moment it is called, and the returned object is awaited later.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from tck import tck_messages as msg
from tck.tck_machines import NegotiationState as NS
from tck.tck_machines import NegotiationView, Side, TransferView
from tck.tck_machines import TransferState as TS
from tck.wire_checks import document_problems, parse_json

from connector.dsp.vocabulary import NegotiationMessage as NM
from connector.dsp.vocabulary import TransferMessage as TM

DEFAULT_WAIT = 5.0
NO_HANDLER = "No handler registered on this endpoint"
INITIAL_NEGOTIATION = "initial ContractRequestMessage"
INITIAL_TRANSFER = "initial TransferRequestMessage"


@dataclass(frozen=True)
class Route:
    """One TCK callback endpoint: the path pattern and the document type the TCK expects there."""

    pattern: re.Pattern[str]
    document: str
    transfer: bool = False

    @property
    def initial(self) -> bool:
        return "pid" not in self.pattern.groupindex


def _route(path: str, document: str, transfer: bool = False) -> Route:
    return Route(re.compile("^" + path.replace("{pid}", "(?P<pid>[^/]+)") + "$"), document, transfer)


ROUTES: tuple[Route, ...] = (
    _route("/negotiations/request", "ContractRequestMessage"),
    _route("/negotiations/{pid}/request", "ContractRequestMessage"),
    _route("/negotiations/{pid}/offers", "ContractOfferMessage"),
    _route("/negotiations/{pid}/agreement", "ContractAgreementMessage"),
    _route("/negotiations/{pid}/agreement/verification", "ContractAgreementVerificationMessage"),
    _route("/negotiations/{pid}/events", "ContractNegotiationEventMessage"),
    _route("/negotiations/{pid}/termination", "ContractNegotiationTerminationMessage"),
    _route("/transfers/request", "TransferRequestMessage", transfer=True),
    _route("/transfers/{pid}/start", "TransferStartMessage", transfer=True),
    _route("/transfers/{pid}/completion", "TransferCompletionMessage", transfer=True),
    _route("/transfers/{pid}/suspension", "TransferSuspensionMessage", transfer=True),
    _route("/transfers/{pid}/termination", "TransferTerminationMessage", transfer=True),
)

# What each message does to the TCK's view, and which side of the TCK may receive it.
NEGOTIATION_TARGET: Mapping[str, NS] = {
    NM.REQUEST: NS.REQUESTED,
    NM.OFFER: NS.OFFERED,
    NM.ACCEPTED: NS.ACCEPTED,
    NM.AGREEMENT: NS.AGREED,
    NM.VERIFICATION: NS.VERIFIED,
    NM.FINALIZED: NS.FINALIZED,
    NM.TERMINATION: NS.TERMINATED,
}
TRANSFER_TARGET: Mapping[str, TS] = {
    TM.START: TS.STARTED,
    TM.COMPLETION: TS.COMPLETED,
    TM.SUSPENSION: TS.SUSPENDED,
    TM.TERMINATION: TS.TERMINATED,
}
RECEIVED_BY: Mapping[Side, frozenset[str]] = {
    Side.CONSUMER: frozenset({NM.OFFER, NM.AGREEMENT, NM.FINALIZED, NM.TERMINATION}),
    Side.PROVIDER: frozenset({NM.REQUEST, NM.ACCEPTED, NM.VERIFICATION, NM.TERMINATION}),
}


@dataclass(frozen=True)
class Received:
    """A message the node sent to the TCK and how the fake answered it.

    `key` is the TCK's own pid for a message in a running process, or the dataset id (negotiation) or agreement
    id (transfer) for an initial request, whose TCK pid the fake only makes up on arrival (`pid`)."""

    kind: str
    key: str
    pid: str | None
    path: str
    body: Any
    status: int
    answer: Mapping[str, Any] | None


@dataclass(frozen=True)
class Violation:
    """A message the TCK would have failed the scenario on."""

    path: str
    kind: str | None
    key: str | None
    problems: tuple[str, ...]

    def __str__(self) -> str:
        what = f"{self.kind} for {self.key}" if self.kind else "a message"
        return f"the node sent {what} to {self.path}: " + "; ".join(self.problems)


@dataclass(frozen=True)
class Refused:
    """A message answered 404 because nobody waited for it (strict mode only)."""

    path: str
    kind: str
    key: str


@dataclass(frozen=True)
class _Outcome:
    status: int
    answer: Mapping[str, Any] | None
    pid: str | None
    problems: tuple[str, ...]


class Expectation:
    """A registered wait for one message; await it (once or more) for the `Received` record."""

    def __init__(self, tck: FakeTck, kind: str, key: str, timeout: float, future: asyncio.Future[Received]):
        self.kind = kind
        self.key = key
        self.timeout = timeout
        self._tck = tck
        self._future = future

    def __await__(self) -> Any:
        return self.wait().__await__()

    @property
    def done(self) -> bool:
        return self._future.done()

    async def wait(self) -> Received:
        try:
            return await asyncio.wait_for(asyncio.shield(self._future), self.timeout)
        except TimeoutError:
            self._tck._drop_waiter(self.kind, self.key, self._future)
            raise AssertionError(self._tck.describe_timeout(self.kind, self.key, self.timeout)) from None


class FakeTck:
    """The TCK's connector. Use `async with FakeTck() as tck:`; `tck.address` is its callback base URL."""

    def __init__(self, strict: bool = False, host: str = "127.0.0.1", default_wait: float = DEFAULT_WAIT):
        self.strict = strict
        self.default_wait = default_wait
        self.negotiations: dict[str, NegotiationView] = {}  # by the TCK's own pid
        self.transfers: dict[str, TransferView] = {}
        self.received: list[Received] = []
        self.violations: list[Violation] = []
        self.refused: list[Refused] = []
        self._host = host
        self._port = 0
        self._waiters: dict[tuple[str, str], asyncio.Future[Received]] = {}
        self._mailbox: list[Received] = []
        self._runner: web.AppRunner | None = None

    # --- lifecycle ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        self.cancel_waiters()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTck:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def address(self) -> str:
        """The TCK's callback base (a root URL without a path, as the TCK requires)."""
        return f"http://{self._host}:{self._port}"

    # --- processes the TCK starts itself --------------------------------------------------------------------

    def new_negotiation(self, dataset_id: str, offer_id: str, callback_address: str) -> NegotiationView:
        """The TCK as consumer: a negotiation it is about to request from the node at `callback_address`."""
        view = NegotiationView(Side.CONSUMER, msg.new_id(), dataset_id, offer_id, callback_address=callback_address)
        self.negotiations[view.own_pid] = view
        return view

    def new_transfer(self, agreement_id: str, transfer_format: str, callback_address: str) -> TransferView:
        view = TransferView(
            Side.CONSUMER, msg.new_id(), agreement_id, transfer_format, callback_address=callback_address
        )
        self.transfers[view.own_pid] = view
        return view

    # --- waiting for the node -------------------------------------------------------------------------------

    def expect(self, kind: str, pid: str, timeout: float | None = None) -> Expectation:
        """Wait for message `kind` (a NegotiationMessage/TransferMessage value) in the TCK's process `pid`."""
        return self._expect(str(kind), pid, timeout)

    def expect_negotiation_request(self, dataset_id: str, timeout: float | None = None) -> Expectation:
        """Wait for the node's initial ContractRequestMessage for `dataset_id`."""
        return self._expect(INITIAL_NEGOTIATION, dataset_id, timeout)

    def expect_transfer_request(self, agreement_id: str, timeout: float | None = None) -> Expectation:
        """Wait for the node's initial TransferRequestMessage for `agreement_id`."""
        return self._expect(INITIAL_TRANSFER, agreement_id, timeout)

    def _expect(self, kind: str, key: str, timeout: float | None) -> Expectation:
        future: asyncio.Future[Received] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_observe)  # a failed wait the test never awaited must not warn at exit
        waiting = timeout if timeout is not None else self.default_wait
        queued = next((r for r in self._mailbox if (r.kind, r.key) == (kind, key)), None)
        if queued is not None:
            self._mailbox.remove(queued)
            future.set_result(queued)
        else:
            old = self._waiters.get((kind, key))
            if old is not None and not old.done():
                raise AssertionError(f"a test already waits for {kind} for {key}")
            self._waiters[(kind, key)] = future
        return Expectation(self, kind, key, waiting, future)

    def _drop_waiter(self, kind: str, key: str, future: asyncio.Future[Received]) -> None:
        if self._waiters.get((kind, key)) is future:
            del self._waiters[(kind, key)]
        future.cancel()

    def cancel_waiters(self) -> None:
        for future in self._waiters.values():
            future.cancel()
        self._waiters.clear()

    # --- what happened --------------------------------------------------------------------------------------

    def unclaimed(self, *keys: str) -> list[Received]:
        """Messages handled without anybody asking for them (all of them when no key is given)."""
        return [r for r in self._mailbox if not keys or r.key in keys or r.pid in keys]

    def violations_for(self, *keys: str) -> list[Violation]:
        return [v for v in self.violations if not keys or v.key in keys]

    def assert_quiet(self, *keys: str) -> None:
        """No message for these processes broke the TCK's rules, and none arrived that nobody asked for."""
        faults = [str(v) for v in self.violations_for(*keys)]
        faults += [
            f"the node sent {r.kind} for {r.key} although the scenario expects nothing more"
            for r in self.unclaimed(*keys)
        ]
        if faults:
            raise AssertionError("\n".join(faults))

    def describe_timeout(self, kind: str, key: str, timeout: float) -> str:
        seen = [f"{r.kind} ({r.status})" for r in self.received if key in (r.key, r.pid)]
        refused = [r.kind for r in self.refused if r.key == key]
        state = ""
        if key in self.negotiations:
            state = f"; the TCK's negotiation is {self.negotiations[key].state}"
        elif key in self.transfers:
            state = f"; the TCK's transfer is {self.transfers[key].state}"
        text = f"the node did not send {kind} for {key} within {timeout:g} s{state}"
        if seen:
            text += f"; it sent {', '.join(seen)}"
        if refused:
            text += f"; refused with 404 (nobody waiting): {', '.join(refused)}"
        return text

    # --- the HTTP side --------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        path = request.path.rstrip("/") or "/"
        found = self._match(path) if request.method == "POST" else None
        if found is None:
            self.violations.append(Violation(path, None, None, (f"the TCK has no endpoint {request.method} {path}",)))
            return web.Response(status=404, text=NO_HANDLER)
        route, pid = found
        body, unreadable = parse_json(raw)
        kind = _kind_of(route, body)
        key = pid if pid is not None else _initial_key(route, body)
        if self.strict and (kind, key) not in self._waiters:
            self.refused.append(Refused(path, kind, key))
            return web.Response(status=404, text=NO_HANDLER)
        problems = [unreadable] if unreadable else document_problems(body, route.document)
        if problems:
            outcome = _Outcome(400, None, pid, tuple(problems))
        elif route.initial:
            outcome = self._initial(route, body)
        elif route.transfer:
            outcome = self._transfer_message(kind, pid or "", body)
        else:
            outcome = self._negotiation_message(kind, pid or "", body)
        self._deliver(Received(kind, key, outcome.pid, path, body, outcome.status, outcome.answer), outcome.problems)
        if outcome.answer is None:
            if outcome.status >= 400:
                return web.Response(status=outcome.status, text="; ".join(outcome.problems))
            return web.Response(status=outcome.status)
        return web.json_response(outcome.answer, status=outcome.status)

    @staticmethod
    def _match(path: str) -> tuple[Route, str | None] | None:
        for route in ROUTES:
            found = route.pattern.match(path)
            if found:
                return route, found.groupdict().get("pid")
        return None

    def _deliver(self, received: Received, problems: tuple[str, ...]) -> None:
        self.received.append(received)
        waiter = self._waiters.pop((received.kind, received.key), None)
        if problems:
            violation = Violation(received.path, received.kind, received.key, problems)
            self.violations.append(violation)
            if waiter is not None and not waiter.done():
                waiter.set_exception(AssertionError(str(violation)))
        elif waiter is not None and not waiter.done():
            waiter.set_result(received)
        else:
            self._mailbox.append(received)

    # --- the TCK's connector --------------------------------------------------------------------------------

    def _initial(self, route: Route, body: dict[str, Any]) -> _Outcome:
        if route.transfer:
            return self._transfer_request(body)
        return self._negotiation_request(body)

    def _negotiation_request(self, body: dict[str, Any]) -> _Outcome:
        problems = []
        if "providerPid" in body:
            problems.append("an initial ContractRequestMessage carries no providerPid")
        offer = body["offer"]
        offer_id = offer["@id"]
        dataset_id = msg.dataset_id_from_offer(offer_id)
        if dataset_id is None:
            problems.append(
                f"the offer @id {offer_id!r} is not the offerId the TCK gave (it starts with "
                f"{msg.OFFER_PREFIX!r}; the TCK derives the dataset from it)"
            )
        elif offer.get("target") != dataset_id:
            problems.append(f"the offer target is {offer.get('target')!r}, not the dataset {dataset_id!r}")
        if problems:
            return _Outcome(400, None, None, tuple(problems))
        consumer_pid = body["consumerPid"]
        view = next(
            (v for v in self.negotiations.values() if v.side is Side.PROVIDER and v.cut_pid == consumer_pid), None
        )
        if view is None:  # a repeated request gets the same negotiation back, as from the TCK
            view = NegotiationView(
                Side.PROVIDER,
                msg.new_id(),
                dataset_id or "",
                offer_id,
                cut_pid=consumer_pid,
                callback_address=body["callbackAddress"],
            )
            view.move(NS.REQUESTED)
            self.negotiations[view.own_pid] = view
        answer = msg.contract_negotiation(view.own_pid, consumer_pid, str(view.state))
        return _Outcome(200, answer, view.own_pid, ())

    def _transfer_request(self, body: dict[str, Any]) -> _Outcome:
        if "callbackAddress" not in body:
            return _Outcome(400, None, None, ("an initial TransferRequestMessage needs a callbackAddress",))
        consumer_pid = body["consumerPid"]
        view = next((v for v in self.transfers.values() if v.side is Side.PROVIDER and v.cut_pid == consumer_pid), None)
        if view is None:
            view = TransferView(
                Side.PROVIDER,
                msg.new_id(),
                body["agreementId"],
                body.get("format", ""),
                cut_pid=consumer_pid,
                callback_address=body["callbackAddress"],
            )
            view.move(TS.REQUESTED)
            self.transfers[view.own_pid] = view
        answer = msg.transfer_process(view.own_pid, consumer_pid, str(view.state))
        return _Outcome(200, answer, view.own_pid, ())

    def _negotiation_message(self, kind: str, pid: str, body: dict[str, Any]) -> _Outcome:
        view = self.negotiations.get(pid)
        if view is None:
            return _Outcome(404, None, pid, (f"the TCK has no negotiation {pid}",))
        problems = _pid_problems(view, body)
        if kind not in RECEIVED_BY[view.side]:
            problems.append(
                f"the TCK is the {view.side} here, and the {view.side.name.lower()} never receives {NM(kind).label}"
            )
        if problems:
            return _Outcome(400, None, pid, tuple(problems))
        target = NEGOTIATION_TARGET[kind]
        if not view.can_move(target):
            reason = f"{NM(kind).label} is not valid while the TCK's negotiation is {view.state}"
            answer = msg.negotiation_error(view.provider_pid or "", view.consumer_pid or "", reason)
            return _Outcome(409, answer, pid, (reason,))
        view.move(target)
        if kind in (NM.OFFER, NM.REQUEST, NM.TERMINATION):
            return _Outcome(
                200,
                msg.contract_negotiation(view.provider_pid or "", view.consumer_pid or "", str(view.state)),
                pid,
                (),
            )
        return _Outcome(200, None, pid, ())  # agreement, events, verification: 200 with an empty body

    def _transfer_message(self, kind: str, pid: str, body: dict[str, Any]) -> _Outcome:
        view = self.transfers.get(pid)
        if view is None:
            return _Outcome(404, None, pid, (f"the TCK has no transfer process {pid}",))
        problems = _pid_problems(view, body)
        if problems:
            return _Outcome(400, None, pid, tuple(problems))
        target = TRANSFER_TARGET[kind]
        if not view.can_move(target):
            reason = f"{kind} is not valid while the TCK's transfer process is {view.state}"
            answer = msg.transfer_error(view.provider_pid or "", view.consumer_pid or "", reason)
            return _Outcome(409, answer, pid, (reason,))
        view.move(target)
        if kind == TM.START:
            view.data_address = body.get("dataAddress")
        return _Outcome(
            200, msg.transfer_process(view.provider_pid or "", view.consumer_pid or "", str(view.state)), pid, ()
        )


def _observe(future: asyncio.Future[Received]) -> None:
    if not future.cancelled():
        future.exception()


def _kind_of(route: Route, body: Any) -> str:
    if route.initial:
        return INITIAL_TRANSFER if route.transfer else INITIAL_NEGOTIATION
    if route.document == "ContractNegotiationEventMessage":
        event = body.get("eventType") if isinstance(body, dict) else None
        return f"{route.document}:{event}" if event in ("ACCEPTED", "FINALIZED") else route.document
    return route.document


def _initial_key(route: Route, body: Any) -> str:
    """Dataset id (from the offer id, as the TCK derives it) or agreement id of an initial request."""
    if not isinstance(body, dict):
        return "?"
    if route.transfer:
        agreement = body.get("agreementId")
        return agreement if isinstance(agreement, str) else "?"
    offer = body.get("offer")
    offer_id = offer.get("@id") if isinstance(offer, dict) else None
    if isinstance(offer_id, str):
        return msg.dataset_id_from_offer(offer_id) or str(offer.get("target", offer_id))
    return "?"


def _pid_problems(view: NegotiationView | TransferView, body: Mapping[str, Any]) -> list[str]:
    """The body must name the TCK's process by its pid and the node's by the pid the node gave it."""
    own_key, cut_key = ("consumerPid", "providerPid") if view.side is Side.CONSUMER else ("providerPid", "consumerPid")
    problems = []
    if body.get(own_key) != view.own_pid:
        problems.append(f"{own_key} is {body.get(own_key)!r}, but the TCK's pid is {view.own_pid!r}")
    if view.cut_pid is None:
        view.cut_pid = body.get(cut_key)  # the node may speak before the TCK has read its answer
    elif body.get(cut_key) != view.cut_pid:
        problems.append(f"{cut_key} is {body.get(cut_key)!r}, but the node named its process {view.cut_pid!r}")
    return problems
