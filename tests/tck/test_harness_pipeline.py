"""The scenario steps end to end against a tiny scripted stand-in for a node, so that the harness itself is
known to work (request/answer bookkeeping, waits, strict 404s and the node's retries, race detection)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from tck import tck_messages as msg
from tck.client import CutEndpoints, TckClient
from tck.fake_tck import FakeTck
from tck.pipeline import Harness, NegotiationWithProvider, TransferWithConsumer
from tck.tck_machines import NegotiationState as NS
from tck.tck_machines import TransferState as TS

from connector.dsp.vocabulary import NegotiationMessage as NM
from connector.dsp.vocabulary import TransferMessage as TM

AUTH = "test-token"


class StandIn:
    """Just enough of a node: as provider it offers (then maybe terminates); as consumer it requests transfers."""

    def __init__(self) -> None:
        self.root = ""
        self.states: dict[str, str] = {}
        self.tasks: list[asyncio.Task[Any]] = []
        self.offer_delay = 0.2
        self.terminate_after_offer: float | None = None
        self.offer_before_answer = False
        self.session: aiohttp.ClientSession | None = None

    @property
    def dsp(self) -> str:
        return self.root + "/dsp/2025-1"

    async def deliver(self, url: str, body: dict[str, Any], patience: float = 3.0) -> aiohttp.ClientResponse:
        """POST, retrying a 404 for a while (a TCK that is not waiting yet), as TCK.md 3.6 asks of a node."""
        assert self.session is not None
        deadline = asyncio.get_running_loop().time() + patience
        while True:
            async with self.session.post(url, json=body) as response:
                await response.read()
            if response.status != 404 or asyncio.get_running_loop().time() > deadline:
                return response
            await asyncio.sleep(0.1)

    def later(self, delay: float, action: Any, *args: Any) -> None:
        async def run() -> None:
            await asyncio.sleep(delay)
            await action(*args)

        self.tasks.append(asyncio.ensure_future(run()))

    async def handle(self, request: web.Request) -> web.Response:
        assert request.headers.get("Authorization") == AUTH
        path = request.path
        body = json.loads(await request.read() or b"null")
        if request.method == "GET":
            pid = path.rsplit("/", 1)[1]
            kind = "ContractNegotiation" if "/negotiations/" in path else "TransferProcess"
            return web.json_response(dict(_document(kind, pid, self.states[pid]), consumerPid="c", providerPid=pid))
        if path == "/dsp/2025-1/negotiations/request":
            return await self.contract_request(body)
        if path.endswith("/termination"):
            pid = path.split("/")[-2]
            self.states[pid] = "TERMINATED"
            return web.Response(status=200)
        if path == "/tck/transfers":
            self.later(0.05, self.request_transfer, body)
            return web.Response(status=200)
        if path.endswith("/start"):
            self.states[path.split("/")[-2]] = "STARTED"
            return web.Response(status=200)
        return web.Response(status=400)

    async def contract_request(self, body: dict[str, Any]) -> web.Response:
        pid = msg.new_id()
        self.states[pid] = "REQUESTED"
        offer = msg.contract_offer(
            pid, body["consumerPid"], body["offer"]["@id"], "node", msg.TCK_PARTICIPANT, body["offer"]["target"]
        )
        url = f"{body['callbackAddress']}/negotiations/{body['consumerPid']}/offers"
        if self.offer_before_answer:
            await self.deliver(url, offer)
        else:
            self.later(self.offer_delay, self.offer_then_maybe_terminate, url, offer, pid, body)
        return web.json_response(msg.contract_negotiation(pid, body["consumerPid"], "REQUESTED"), status=201)

    async def offer_then_maybe_terminate(
        self, url: str, offer: dict[str, Any], pid: str, request: dict[str, Any]
    ) -> None:
        await self.deliver(url, offer)
        self.states[pid] = "OFFERED"
        if self.terminate_after_offer is not None:
            await asyncio.sleep(self.terminate_after_offer)
            self.states[pid] = "TERMINATED"
            termination = msg.negotiation_termination(pid, request["consumerPid"])
            await self.deliver(
                f"{request['callbackAddress']}/negotiations/{request['consumerPid']}/termination", termination
            )

    async def request_transfer(self, webhook: dict[str, Any]) -> None:
        pid = msg.new_id()
        self.states[pid] = "REQUESTED"
        request = msg.transfer_request(pid, webhook["agreementId"], webhook["format"], self.dsp)
        await self.deliver(f"{webhook['connectorAddress']}/transfers/request", request)


def _document(kind: str, pid: str, state: str) -> dict[str, Any]:
    maker = msg.contract_negotiation if kind == "ContractNegotiation" else msg.transfer_process
    return maker(pid, "c", state)


@pytest_asyncio.fixture
async def stand_in() -> AsyncIterator[StandIn]:
    node = StandIn()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", node.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    node.root = f"http://127.0.0.1:{runner.addresses[0][1]}"
    async with aiohttp.ClientSession() as session:
        node.session = session
        yield node
        for task in node.tasks:
            task.cancel()
        await asyncio.gather(*node.tasks, return_exceptions=True)
    await runner.cleanup()


@pytest_asyncio.fixture
async def harness(stand_in: StandIn) -> AsyncIterator[Harness]:
    cut = CutEndpoints(
        stand_in.dsp,
        stand_in.root,
        AUTH,
        "did:web:stand-in",
        stand_in.root + "/tck/negotiations",
        stand_in.root + "/tck/transfers",
    )
    async with FakeTck(default_wait=3.0) as tck, aiohttp.ClientSession() as session:
        yield Harness(tck, TckClient(session, cut, default_wait=2.0), cut)


async def test_provider_negotiation_steps_track_both_sides(harness: Harness) -> None:
    run = NegotiationWithProvider(harness, "ACN0101", "CD123:ACN0101:456")
    offer = run.expect(NM.OFFER)
    answer = await run.send_request()
    assert run.view.state is NS.REQUESTED and run.provider_pid == answer["providerPid"]
    await run.wait_for_state(offer, NS.OFFERED)
    await run.send_termination()
    await run.verify_provider_state(NS.TERMINATED)
    assert run.view.history == [NS.INITIALIZED, NS.REQUESTED, NS.OFFERED]
    run.finish()


async def test_strict_tck_refuses_an_early_callback_and_takes_the_retry(harness: Harness, stand_in: StandIn) -> None:
    harness.tck.strict = True
    stand_in.terminate_after_offer = 0.2
    run = NegotiationWithProvider(harness, "ACN0205", "CD123:ACN0205:456")
    offer = run.expect(NM.OFFER)
    await run.send_request()
    await run.wait_for_state(offer, NS.OFFERED)
    await asyncio.sleep(0.6)
    assert [r.kind for r in harness.tck.refused] == [NM.TERMINATION] * len(harness.tck.refused)
    assert harness.tck.refused, "the termination came while nobody waited"
    await run.wait_for_state(run.expect(NM.TERMINATION), NS.TERMINATED)
    run.finish()


async def test_lenient_tck_keeps_the_early_callback(harness: Harness, stand_in: StandIn) -> None:
    stand_in.terminate_after_offer = 0.1
    run = NegotiationWithProvider(harness, "ACN0205", "CD123:ACN0205:456")
    offer = run.expect(NM.OFFER)
    await run.send_request()
    await run.wait_for_state(offer, NS.OFFERED)
    await asyncio.sleep(0.4)
    assert harness.tck.refused == []
    await run.wait_for_state(run.expect(NM.TERMINATION), NS.TERMINATED)
    run.finish()


async def test_a_message_sent_before_the_answer_to_the_request_is_flagged(harness: Harness, stand_in: StandIn) -> None:
    stand_in.offer_before_answer = True
    run = NegotiationWithProvider(harness, "ACN0101", "CD123:ACN0101:456")
    run.expect(NM.OFFER)
    with pytest.raises(AssertionError, match="before the TCK had its answer"):
        await run.send_request()


async def test_a_silent_node_fails_the_wait_with_its_story(harness: Harness, stand_in: StandIn) -> None:
    stand_in.offer_delay = 10
    run = NegotiationWithProvider(harness, "ACN0101", "CD123:ACN0101:456")
    offer = run.expect(NM.OFFER, timeout=0.3)
    await run.send_request()
    with pytest.raises(AssertionError, match="did not send ContractOfferMessage.*REQUESTED"):
        await run.wait_for_state(offer, NS.OFFERED)


async def test_consumer_transfer_steps_follow_the_webhook(harness: Harness) -> None:
    run = TransferWithConsumer(harness, "ATPC0101")
    request = await run.initiate()
    assert request.body["agreementId"] == "ATPC0101" and run.view.state is TS.REQUESTED
    assert run.address == harness.cut.dsp_url and run.view.cut_pid == request.body["consumerPid"]
    await run.send_start(msg.pull_data_address())
    await run.verify_consumer_state(TS.STARTED)
    await run.send_termination()
    await run.verify_consumer_state(TS.TERMINATED)
    assert run.view.state is TS.TERMINATED
    run.finish()
    with pytest.raises(AssertionError, match="did not send TransferStartMessage"):
        await run.expect(TM.START, timeout=0.1)
