"""The TCK client on its own, against a stub node whose answers each test scripts."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from tck import tck_messages as msg
from tck.client import CutEndpoints, TckClient

AUTH = '{"region": "any", "audience": "any", "clientId": "any"}'
P, C = "node-p", "tck-c"
Answer = tuple[int, Any]  # status and a JSON body (None: empty body; str: raw text)


@dataclass
class StubNode:
    """Answers each path with the scripted answers in turn (the last one repeats); records every request."""

    answers: dict[str, list[Answer]] = field(default_factory=dict)
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)

    def script(self, path: str, *answers: Answer) -> None:
        self.answers[path] = list(answers)

    def count(self, path: str) -> int:
        return sum(1 for _, seen_path, _ in self.seen if seen_path == path)

    async def handle(self, request: web.Request) -> web.Response:
        self.bodies.append(await request.read())
        self.seen.append((request.method, request.path, request.headers.get("Authorization")))
        queue = self.answers.get(request.path, [(404, {"code": "not.found"})])
        status, body = queue.pop(0) if len(queue) > 1 else queue[0]
        if body is None:
            return web.Response(status=status)
        if isinstance(body, str):
            return web.Response(status=status, text=body)
        return web.json_response(body, status=status)


@pytest_asyncio.fixture
async def stub() -> AsyncIterator[tuple[StubNode, str]]:
    node = StubNode()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", node.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield node, f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


@pytest_asyncio.fixture
async def client(stub: tuple[StubNode, str]) -> AsyncIterator[TckClient]:
    _, root = stub
    cut = CutEndpoints(
        root + "/dsp/2025-1", root, AUTH, "did:web:node", root + "/tck/negotiations", root + "/tck/transfers"
    )
    async with aiohttp.ClientSession() as session:
        yield TckClient(session, cut, default_wait=0.5)


def node(stub: tuple[StubNode, str]) -> StubNode:
    return stub[0]


def error(kind: str) -> dict[str, Any]:
    body = msg.negotiation_error(P, C, "no") if kind == "negotiation" else msg.transfer_error(P, C, "no")
    return body


async def test_every_request_carries_the_configured_authorization(client: TckClient, stub) -> None:
    node(stub).script("/tck/negotiations", (204, None))
    node(stub).script(
        "/.well-known/dspace-version",
        (200, {"protocolVersions": [{"version": "2025-1", "path": "/dsp/2025-1", "binding": "HTTPS"}]}),
    )
    await client.initiate_negotiation("ACNC0101", "offerACNC0101", "http://127.0.0.1:1")
    await client.version()
    assert [auth for _, _, auth in node(stub).seen] == [AUTH, AUTH]


async def test_a_404_always_fails_even_when_an_error_is_expected(client: TckClient, stub) -> None:
    with pytest.raises(AssertionError, match="Unexpected 404"):
        await client.verify(msg.verification(P, C), expect_error=True)
    with pytest.raises(AssertionError, match="Unexpected 404"):
        await client.get_negotiation(client.cut.dsp_url, P)
    assert node(stub).count(f"/dsp/2025-1/negotiations/{P}/agreement/verification") == 1


async def test_an_unexpected_4xx_is_retried_up_to_three_attempts(client: TckClient, stub) -> None:
    path = f"/dsp/2025-1/negotiations/{P}/events"
    node(stub).script(path, (400, None), (409, None), (200, None))
    loop = asyncio.get_running_loop()
    started = loop.time()
    reply = await client.accept(msg.accepted_event(P, C))
    assert reply.attempts == 3 and node(stub).count(path) == 3
    assert loop.time() - started >= 0.55  # 200 ms, then 400 ms


async def test_a_4xx_on_every_attempt_fails(client: TckClient, stub) -> None:
    path = "/dsp/2025-1/transfers/request"
    node(stub).script(path, (400, error("transfer")))
    with pytest.raises(AssertionError, match="Unexpected response code 400"):
        await client.transfer_request(msg.transfer_request(C, "ATP0101", "HttpData-PULL", "http://127.0.0.1:1"))
    assert node(stub).count(path) == 3


@pytest.mark.parametrize("status", [400, 409, 422])
async def test_an_expected_error_is_a_4xx_with_an_error_document(client: TckClient, stub, status: int) -> None:
    path = f"/dsp/2025-1/transfers/{P}/completion"
    node(stub).script(path, (status, error("transfer")))
    reply = await client.complete_transfer(client.cut.dsp_url, P, msg.transfer_completion(P, C), expect_error=True)
    assert reply.status == status and reply.attempts == 1


@pytest.mark.parametrize(
    "answer, fragment",
    [
        ((200, None), "Expected to throw"),
        ((500, error("transfer")), "Unexpected response code 500"),
        ((302, None), "Unexpected response code 302"),
        ((400, {"code": "dsp.invalid", "reason": "no"}), "rejects"),
        ((400, error("negotiation")), "expects TransferError"),
        ((400, "plain text"), "not a JSON TransferError"),
    ],
)
async def test_an_expected_error_must_be_refused_properly(
    client: TckClient, stub, answer: Answer, fragment: str
) -> None:
    path = f"/dsp/2025-1/transfers/{P}/suspension"
    node(stub).script(path, answer)
    with pytest.raises(AssertionError, match=fragment):
        await client.suspend_transfer(client.cut.dsp_url, P, msg.transfer_suspension(P, C), expect_error=True)


async def test_a_success_body_if_any_must_be_a_sound_document(client: TckClient, stub) -> None:
    path = f"/dsp/2025-1/negotiations/{P}/termination"
    termination = msg.negotiation_termination(P, C)
    node(stub).script(path, (200, None), (200, msg.contract_negotiation(P, C, "TERMINATED")), (200, {"ok": True}))
    await client.terminate_negotiation(client.cut.dsp_url, P, termination)
    await client.terminate_negotiation(client.cut.dsp_url, P, termination)
    with pytest.raises(AssertionError, match="no @type"):
        await client.terminate_negotiation(client.cut.dsp_url, P, termination)


async def test_contract_request_answer_must_be_a_schema_valid_negotiation(client: TckClient, stub) -> None:
    request = msg.contract_request(C, "CD123:ACN0101:456", "ACN0101", "http://127.0.0.1:1")
    good = msg.contract_negotiation(P, C, "REQUESTED")
    bad = dict(good, **{"@type": ["ContractNegotiation"]})
    node(stub).script("/dsp/2025-1/negotiations/request", (201, good), (201, bad))
    assert (await client.contract_request(request))["providerPid"] == P
    with pytest.raises(AssertionError, match="must be a string"):
        await client.contract_request(request)


async def test_catalog_and_dataset_answers_are_checked(client: TckClient, stub) -> None:
    catalog = {
        "@context": ["https://w3id.org/dspace/2025/1/context.jsonld"],
        "@id": "urn:catalog",
        "@type": "Catalog",
        "participantId": "did:web:node",
        "dataset": [{"@id": "CAT0101"}],
    }
    node(stub).script("/dsp/2025-1/catalog/request", (200, catalog))
    node(stub).script(
        "/dsp/2025-1/catalog/datasets/CAT0103",
        (404, {"@context": ["https://w3id.org/dspace/2025/1/context.jsonld"], "@type": "CatalogError"}),
    )
    node(stub).script("/dsp/2025-1/catalog/datasets/CAT0104", (404, {"error": "not found"}))
    with pytest.raises(AssertionError, match="schema Catalog"):
        await client.catalog()  # datasets without policies and distributions fail the official schema
    assert (await client.missing_dataset("CAT0103")).status == 404
    with pytest.raises(AssertionError, match="no @type"):
        await client.missing_dataset("CAT0104")


async def test_version_document_is_checked(client: TckClient, stub) -> None:
    node(stub).script("/.well-known/dspace-version", (200, {"protocolVersions": [{"version": "2024-1"}]}))
    with pytest.raises(AssertionError, match="2025-1"):
        await client.version()


async def test_negotiation_state_is_one_read_after_a_short_pause(client: TckClient, stub) -> None:
    path = f"/dsp/2025-1/negotiations/{P}"
    node(stub).script(path, (200, msg.contract_negotiation(P, C, "OFFERED")))
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await client.negotiation_state(client.cut.dsp_url, P) == "OFFERED"
    assert loop.time() - started >= 0.09 and node(stub).count(path) == 1


async def test_transfer_state_is_polled_until_it_matches(client: TckClient, stub) -> None:
    path = f"/dsp/2025-1/transfers/{P}"
    node(stub).script(
        path,
        (200, msg.transfer_process(P, C, "REQUESTED")),
        (200, msg.transfer_process(P, C, "REQUESTED")),
        (200, msg.transfer_process(P, C, "STARTED")),
    )
    await client.await_transfer_state(client.cut.dsp_url, P, "STARTED")
    assert node(stub).count(path) == 3


async def test_transfer_state_polling_gives_up_and_names_the_last_state(client: TckClient, stub) -> None:
    node(stub).script(f"/dsp/2025-1/transfers/{P}", (200, msg.transfer_process(P, C, "REQUESTED")))
    with pytest.raises(AssertionError, match="stayed REQUESTED, expected STARTED"):
        await client.await_transfer_state(client.cut.dsp_url, P, "STARTED", timeout=0.3)


async def test_transfer_state_polling_fails_at_once_on_a_404(client: TckClient, stub) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(AssertionError, match="Unexpected 404"):
        await client.await_transfer_state(client.cut.dsp_url, P, "STARTED", timeout=5)
    assert loop.time() - started < 1


async def test_webhook_bodies_are_the_tcks_plain_json(client: TckClient, stub) -> None:
    node(stub).script("/tck/transfers", (200, None))
    await client.initiate_transfer("ATPC0101", "HttpData-PULL", "http://127.0.0.1:1")
    assert json.loads(node(stub).bodies[-1]) == {
        "providerId": "TCK_PARTICIPANT",
        "agreementId": "ATPC0101",
        "format": "HttpData-PULL",
        "connectorAddress": "http://127.0.0.1:1",
    }
