"""The fake TCK on its own: a test plays the node and posts to it directly."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tck import tck_messages as msg
from tck.fake_tck import NO_HANDLER, FakeTck
from tck.tck_machines import NegotiationState as NS
from tck.tck_machines import Side
from tck.tck_machines import TransferState as TS
from tck.wire_checks import document_problems

from connector.dsp.vocabulary import DSP_CONTEXT
from connector.dsp.vocabulary import NegotiationMessage as NM
from connector.dsp.vocabulary import TransferMessage as TM

NODE = "http://127.0.0.1:9/dsp/2025-1"  # where the fake would send its own messages; never contacted here


@pytest_asyncio.fixture
async def tck() -> AsyncIterator[FakeTck]:
    async with FakeTck(default_wait=1.0) as fake:
        yield fake


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def post(http: aiohttp.ClientSession, url: str, body: Any) -> tuple[int, str, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with http.post(url, data=data, headers={"Content-Type": "application/json"}) as response:
        text = await response.text()
        try:
            decoded = json.loads(text) if text else None
        except json.JSONDecodeError:
            decoded = None
        return response.status, text, decoded


def node_request(dataset_id: str, consumer_pid: str = "node-c1") -> dict[str, Any]:
    """What a node sends as consumer: its own pid, the offer the webhook named, its callback."""
    return msg.contract_request(consumer_pid, msg.offer_id_for(dataset_id), dataset_id, NODE)


async def test_initial_request_is_answered_200_with_a_requested_negotiation(tck: FakeTck, http) -> None:
    arrival = tck.expect_negotiation_request("ACNC0101")
    status, _, body = await post(http, f"{tck.address}/negotiations/request", node_request("ACNC0101"))
    received = await arrival
    assert status == 200
    assert document_problems(body, "ContractNegotiation") == []
    assert body["state"] == "REQUESTED" and body["consumerPid"] == "node-c1"
    view = tck.negotiations[received.pid]
    assert (view.side, view.own_pid, view.cut_pid) == (Side.PROVIDER, body["providerPid"], "node-c1")
    assert (view.state, view.callback_address, view.dataset_id) == (NS.REQUESTED, NODE, "ACNC0101")


async def test_repeated_initial_request_gets_the_same_negotiation(tck: FakeTck, http) -> None:
    _, _, first = await post(http, f"{tck.address}/negotiations/request", node_request("ACNC0102"))
    _, _, second = await post(http, f"{tck.address}/negotiations/request", node_request("ACNC0102"))
    assert first["providerPid"] == second["providerPid"]
    assert len(tck.negotiations) == 1


async def test_initial_request_with_a_changed_offer_id_is_a_violation(tck: FakeTck, http) -> None:
    body = node_request("ACNC0103")
    body["offer"]["@id"] = "urn:uuid:something-else"
    body["offer"]["target"] = "ACNC0103"
    arrival = tck.expect_negotiation_request("ACNC0103")
    status, _, _ = await post(http, f"{tck.address}/negotiations/request", body)
    assert status == 400
    with pytest.raises(AssertionError):
        await arrival  # keyed by target when the offer id cannot be mapped back
    assert "offer @id" in str(tck.violations[-1])


async def test_message_with_a_type_array_is_a_violation_that_fails_the_wait(tck: FakeTck, http) -> None:
    view = tck.new_negotiation("ACN0101", "CD123:ACN0101:456", NODE)
    offer = msg.contract_offer("node-p", view.own_pid, "CD123:ACN0101:456", "node", "tck", "ACN0101")
    offer["@type"] = ["ContractOfferMessage"]
    waiting = tck.expect(NM.OFFER, view.own_pid)
    status, _, _ = await post(http, f"{tck.address}/negotiations/{view.own_pid}/offers", offer)
    assert status == 400
    with pytest.raises(AssertionError, match="must be a string"):
        await waiting
    assert view.state is NS.INITIALIZED


async def test_lenient_fake_keeps_an_early_message_for_a_later_wait(tck: FakeTck, http) -> None:
    view = tck.new_negotiation("ACN0101", "CD123:ACN0101:456", NODE)
    view.move(NS.REQUESTED)
    offer = msg.contract_offer("node-p", view.own_pid, "CD123:ACN0101:456", "node", "tck", "ACN0101")
    status, _, body = await post(http, f"{tck.address}/negotiations/{view.own_pid}/offers", offer)
    assert status == 200 and body["state"] == "OFFERED"
    assert view.state is NS.OFFERED and view.cut_pid == "node-p"
    assert [r.kind for r in tck.unclaimed(view.own_pid)] == [NM.OFFER]
    received = await tck.expect(NM.OFFER, view.own_pid)
    assert received.body["providerPid"] == "node-p" and tck.unclaimed() == []


async def test_strict_fake_refuses_an_early_message_with_404_and_handles_the_retry(tck: FakeTck, http) -> None:
    tck.strict = True
    view = tck.new_transfer("ATP0101", "HttpData-PULL", NODE)
    view.cut_pid = "node-p"
    view.move(TS.REQUESTED)
    start = msg.transfer_start("node-p", view.own_pid, msg.pull_data_address())
    status, text, _ = await post(http, f"{tck.address}/transfers/{view.own_pid}/start", start)
    assert (status, text) == (404, NO_HANDLER)
    assert view.state is TS.REQUESTED and [r.kind for r in tck.refused] == [TM.START]
    waiting = tck.expect(TM.START, view.own_pid)
    status, _, body = await post(http, f"{tck.address}/transfers/{view.own_pid}/start", start)
    assert status == 200 and body["state"] == "STARTED"
    assert (await waiting).status == 200
    assert view.state is TS.STARTED and view.data_address == msg.pull_data_address()
    status, text, _ = await post(
        http, f"{tck.address}/transfers/{view.own_pid}/completion", msg.transfer_completion("node-p", view.own_pid)
    )
    assert (status, text) == (404, NO_HANDLER), "a handler serves one message, then it is gone"


async def test_invalid_transfer_move_is_answered_409_with_a_transfer_error(tck: FakeTck, http) -> None:
    view = tck.new_transfer("ATP0301", "HttpData-PULL", NODE)
    view.cut_pid = "node-p"
    view.move(TS.REQUESTED)
    waiting = tck.expect(TM.COMPLETION, view.own_pid)
    status, _, body = await post(
        http, f"{tck.address}/transfers/{view.own_pid}/completion", msg.transfer_completion("node-p", view.own_pid)
    )
    assert status == 409
    assert document_problems(body, "TransferError") == []
    assert view.state is TS.REQUESTED
    with pytest.raises(AssertionError, match="not valid while"):
        await waiting


async def test_invalid_negotiation_move_is_refused_and_recorded(tck: FakeTck, http) -> None:
    view = tck.new_negotiation("ACN0104", "CD123:ACN0104:456", NODE)
    view.cut_pid = "node-p"
    view.move(NS.REQUESTED)
    status, text, body = await post(
        http, f"{tck.address}/negotiations/{view.own_pid}/events", msg.finalized_event("node-p", view.own_pid)
    )
    assert status == 409 and document_problems(body, "ContractNegotiationError") == []
    assert view.state is NS.REQUESTED
    with pytest.raises(AssertionError, match="FINALIZED"):
        tck.assert_quiet(view.own_pid)


async def test_agreement_and_events_are_answered_with_an_empty_200(tck: FakeTck, http) -> None:
    view = tck.new_negotiation("ACN0104", "CD123:ACN0104:456", NODE)
    view.cut_pid = "node-p"
    view.move(NS.REQUESTED)
    agreement = msg.contract_agreement("node-p", view.own_pid, msg.new_id(), "node", "tck", "ACN0104", NODE)
    del agreement["callbackAddress"]
    status, text, _ = await post(http, f"{tck.address}/negotiations/{view.own_pid}/agreement", agreement)
    assert (status, text) == (200, "") and view.state is NS.AGREED
    view.move(NS.VERIFIED)
    status, text, _ = await post(
        http, f"{tck.address}/negotiations/{view.own_pid}/events/", msg.finalized_event("node-p", view.own_pid)
    )
    assert (status, text) == (200, "") and view.state is NS.FINALIZED
    assert [r.kind for r in tck.unclaimed(view.own_pid)] == [NM.AGREEMENT, NM.FINALIZED]


async def test_message_naming_the_wrong_pids_is_a_violation(tck: FakeTck, http) -> None:
    view = tck.new_negotiation("ACN0101", "CD123:ACN0101:456", NODE)
    view.cut_pid = "node-p"
    view.move(NS.REQUESTED)
    wrong_own = msg.contract_offer("node-p", "someone-else", "CD123:ACN0101:456", "n", "t", "ACN0101")
    wrong_node = msg.contract_offer("node-other", view.own_pid, "CD123:ACN0101:456", "n", "t", "ACN0101")
    assert (await post(http, f"{tck.address}/negotiations/{view.own_pid}/offers", wrong_own))[0] == 400
    assert (await post(http, f"{tck.address}/negotiations/{view.own_pid}/offers", wrong_node))[0] == 400
    assert len(tck.violations_for(view.own_pid)) == 2 and view.state is NS.REQUESTED


async def test_a_provider_message_sent_by_a_consumer_is_a_violation(tck: FakeTck, http) -> None:
    view = tck.new_negotiation("ACN0101", "CD123:ACN0101:456", NODE)  # the TCK is the consumer here
    view.cut_pid = "node-p"
    view.move(NS.REQUESTED)
    status, _, _ = await post(
        http,
        f"{tck.address}/negotiations/{view.own_pid}/agreement/verification",
        msg.verification("node-p", view.own_pid),
    )
    assert status == 400 and "never receives" in str(tck.violations[-1])


async def test_counter_offer_from_the_node_as_consumer_returns_to_requested(tck: FakeTck, http) -> None:
    _, _, body = await post(http, f"{tck.address}/negotiations/request", node_request("ACNC0102"))
    pid = body["providerPid"]
    tck.negotiations[pid].move(NS.OFFERED)
    counter = msg.counter_offer(pid, "node-c1", "offerACNC0102", None, "node", "ACNC0102")
    status, _, answer = await post(http, f"{tck.address}/negotiations/{pid}/request", counter)
    assert status == 200 and answer["state"] == "REQUESTED"
    assert tck.negotiations[pid].state is NS.REQUESTED


async def test_transfer_request_from_the_node_creates_the_tcks_provider_process(tck: FakeTck, http) -> None:
    arrival = tck.expect_transfer_request("ATPC0101")
    request = msg.transfer_request("node-c1", "ATPC0101", "HttpData-PULL", NODE)
    status, _, body = await post(http, f"{tck.address}/transfers/request", request)
    received = await arrival
    assert status == 200 and document_problems(body, "TransferProcess") == []
    view = tck.transfers[received.pid]
    assert (view.side, view.state, view.cut_pid, view.callback_address) == (
        Side.PROVIDER,
        TS.REQUESTED,
        "node-c1",
        NODE,
    )
    termination = msg.transfer_termination(received.pid, "node-c1")
    status, _, body = await post(http, f"{tck.address}/transfers/{received.pid}/termination", termination)
    assert status == 200 and body["state"] == "TERMINATED" and view.state is TS.TERMINATED


async def test_unknown_endpoints_and_methods_get_the_tcks_404(tck: FakeTck, http) -> None:
    status, text, _ = await post(http, f"{tck.address}/negotiations/offers", {"@type": "ContractOfferMessage"})
    assert (status, text) == (404, NO_HANDLER)
    async with http.get(f"{tck.address}/negotiations/x") as response:
        assert response.status == 404
    assert len(tck.violations) == 2


async def test_a_body_that_is_not_json_is_a_violation(tck: FakeTck, http) -> None:
    view = tck.new_transfer("ATP0101", "HttpData-PULL", NODE)
    status, _, _ = await post(http, f"{tck.address}/transfers/{view.own_pid}/start", b"not json")
    assert status == 400 and "not JSON" in str(tck.violations[-1])


async def test_a_wait_that_times_out_says_what_the_node_did_send(tck: FakeTck, http) -> None:
    view = tck.new_negotiation("ACN0101", "CD123:ACN0101:456", NODE)
    view.cut_pid = "node-p"
    view.move(NS.REQUESTED)
    await post(
        http,
        f"{tck.address}/negotiations/{view.own_pid}/termination",
        msg.negotiation_termination("node-p", view.own_pid),
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(AssertionError) as failure:
        await tck.expect(NM.OFFER, view.own_pid, timeout=0.2)
    assert loop.time() - started < 1.0
    text = str(failure.value)
    assert "did not send ContractOfferMessage" in text and "ContractNegotiationTerminationMessage (200)" in text
    assert "TERMINATED" in text


async def test_two_waits_for_the_same_message_are_a_test_error(tck: FakeTck) -> None:
    tck.expect(NM.OFFER, "p")
    with pytest.raises(AssertionError, match="already waits"):
        tck.expect(NM.OFFER, "p")


async def test_assert_quiet_reports_messages_nobody_asked_for(tck: FakeTck, http) -> None:
    view = tck.new_transfer("ATP0101", "HttpData-PULL", NODE)
    view.cut_pid = "node-p"
    view.move(TS.REQUESTED)
    await post(
        http, f"{tck.address}/transfers/{view.own_pid}/termination", msg.transfer_termination("node-p", view.own_pid)
    )
    tck.assert_quiet("another-process")
    with pytest.raises(AssertionError, match="expects nothing more"):
        tck.assert_quiet(view.own_pid)


ROUTE_PATHS = [
    "/negotiations/request",
    "/negotiations/{pid}/request",
    "/negotiations/{pid}/offers",
    "/negotiations/{pid}/agreement",
    "/negotiations/{pid}/agreement/verification",
    "/negotiations/{pid}/events",
    "/negotiations/{pid}/termination",
    "/transfers/request",
    "/transfers/{pid}/start",
    "/transfers/{pid}/completion",
    "/transfers/{pid}/suspension",
    "/transfers/{pid}/termination",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
documents = st.fixed_dictionaries(
    {
        "@context": st.just([DSP_CONTEXT]),
        "@type": st.sampled_from(["ContractOfferMessage", "TransferStartMessage", "ContractRequestMessage", "X"]),
    },
    optional={
        "providerPid": st.text(max_size=5),
        "consumerPid": st.text(max_size=5),
        "offer": json_values,
        "eventType": st.sampled_from(["ACCEPTED", "FINALIZED", "x"]),
        "callbackAddress": st.text(max_size=5),
    },
)


@given(st.sampled_from(ROUTE_PATHS), st.one_of(json_values, documents), st.booleans())
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_anything_the_node_posts_gets_a_tck_answer_and_failures_are_recorded(path: str, body: Any, known: bool) -> None:
    async def exchange() -> tuple[int, FakeTck]:
        async with FakeTck() as fake, aiohttp.ClientSession() as session:
            if "/transfers/" in path:
                transfer = fake.new_transfer("A", "F", NODE)
                transfer.move(TS.REQUESTED)
                view: Any = transfer
            else:
                view = fake.new_negotiation("D", "O", NODE)
                view.move(NS.REQUESTED)
            view.cut_pid = "node"
            pid = view.own_pid if known else "unknown"
            status, _, _ = await post(session, fake.address + path.replace("{pid}", pid), body)
            return status, fake

    status, fake = asyncio.run(exchange())
    assert status in (200, 400, 404, 409)
    if status != 200:
        assert fake.violations and not fake.unclaimed()
    else:
        assert not fake.violations and len(fake.unclaimed()) == 1
