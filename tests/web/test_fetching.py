"""Identity material never waits behind message traffic: one fetch per DID document at a time, a document that is
merely due is served while a fresh copy is fetched, a URL that failed is not asked again at every request, and the
peer's own credential service is asked through a pool apart from the peer's messages."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from connector.trust import vocab
from connector.trust.did import MAX_DOCUMENT_BYTES, DidDocument
from connector.trust.edge.fetching import DOCUMENT_BUDGET, RETRY_INITIAL, Fetcher, FetchFailed
from connector.web.outgoing import OutgoingHttp

DID = "did:web:example.com"
TTL = timedelta(seconds=30)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Server:
    """A plain-HTTP server on loopback answering a DID document, slowly or not at all when told to."""

    def __init__(self) -> None:
        self.requests = 0
        self.delay = 0.0
        self.status = 200
        self.release = asyncio.Event()
        self.release.set()
        self.url = ""

    async def document(self, request: web.Request) -> web.Response:
        self.requests += 1
        await self.release.wait()
        await asyncio.sleep(self.delay)
        body = {"@context": [vocab.DID_CONTEXT], "id": DID}
        return web.Response(status=self.status, body=json.dumps(body).encode(), content_type="application/json")


@pytest.fixture
async def server():
    served = Server()
    app = web.Application()
    app.router.add_get("/.well-known/did.json", served.document)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    served.url = f"http://127.0.0.1:{port}/.well-known/did.json"
    yield served
    await runner.cleanup()


@pytest.fixture
async def fetching():
    http = OutgoingHttp(None)
    clock = Clock()
    yield Fetcher(http, clock, did_ttl=TTL, timeout=5.0, draw=lambda: 0.0), clock
    await http.close()


async def test_callers_asking_at_once_for_one_document_share_one_fetch(server, fetching) -> None:
    fetcher, _ = fetching
    server.release.clear()
    asking = [asyncio.ensure_future(fetcher.did_document(DID, server.url)) for _ in range(20)]
    await asyncio.sleep(0.2)
    server.release.set()
    found = await asyncio.gather(*asking)
    assert server.requests == 1 and fetcher.fetches == 1
    assert all(isinstance(doc, DidDocument) and doc is found[0] for doc in found)


async def test_a_caller_giving_up_does_not_end_the_fetch_the_others_wait_for(server, fetching) -> None:
    fetcher, _ = fetching
    server.release.clear()
    impatient = asyncio.ensure_future(fetcher.did_document(DID, server.url))
    patient = asyncio.ensure_future(fetcher.did_document(DID, server.url))
    await asyncio.sleep(0.1)
    impatient.cancel()
    server.release.set()
    assert isinstance(await patient, DidDocument)
    assert server.requests == 1


async def test_a_document_that_is_due_is_answered_at_once_and_fetched_afresh_behind_the_answer(
    server, fetching
) -> None:
    fetcher, clock = fetching
    first = await fetcher.did_document(DID, server.url)
    clock.now += TTL * 0.5
    assert await fetcher.did_document(DID, server.url) is first and server.requests == 1  # fresh: no fetch

    clock.now += TTL  # past its time, within the stale bound
    server.delay = 3.0  # the peer is slow to answer: nobody waits for it
    began = asyncio.get_running_loop().time()
    assert await fetcher.did_document(DID, server.url) is first
    assert asyncio.get_running_loop().time() - began < 1.0
    await asyncio.sleep(0.1)
    assert server.requests == 2  # the refresh is under way
    assert await fetcher.did_document(DID, server.url) is first and server.requests == 2  # and not asked twice
    server.delay = 0.0
    while fetcher._refreshing:
        await asyncio.sleep(0.05)
    assert await fetcher.did_document(DID, server.url) is not first  # the fresh copy replaced it


async def test_a_document_past_the_stale_bound_is_fetched_before_the_answer(server, fetching) -> None:
    fetcher, clock = fetching
    first = await fetcher.did_document(DID, server.url)
    clock.now += TTL * 2 + timedelta(seconds=1)  # did_ttl + stale_for is over: a key rotation must reach us
    again = await fetcher.did_document(DID, server.url)
    assert again is not first and server.requests == 2


async def test_a_refresh_that_fails_keeps_the_cached_copy_until_the_stale_bound(server, fetching) -> None:
    fetcher, clock = fetching
    first = await fetcher.did_document(DID, server.url)
    server.status = 500
    clock.now += TTL
    assert await fetcher.did_document(DID, server.url) is first
    while fetcher._refreshing:
        await asyncio.sleep(0.05)
    assert server.requests == 2
    clock.now += TTL + timedelta(seconds=1)
    with pytest.raises(FetchFailed):
        await fetcher.did_document(DID, server.url)


async def test_a_url_that_failed_is_not_asked_again_until_its_back_off_is_over(server, fetching) -> None:
    fetcher, clock = fetching
    server.status = 503
    with pytest.raises(FetchFailed, match="HTTP 503"):
        await fetcher.get(server.url, 1024)
    server.status = 200
    with pytest.raises(FetchFailed, match="asked again in"):
        await fetcher.get(server.url, 1024)
    assert server.requests == 1  # the second caller was answered without a request
    clock.now += timedelta(seconds=RETRY_INITIAL)
    assert await fetcher.get(server.url, 1024)
    assert server.requests == 2
    server.status = 503
    with pytest.raises(FetchFailed, match="HTTP 503"):  # it answered since: the back-off started over
        await fetcher.get(server.url, 1024)


async def test_the_peers_own_services_are_asked_through_a_pool_apart_from_its_messages() -> None:
    http = OutgoingHttp(None)
    try:
        messages, identity, public = http.session(), http.identity(), http.public()
        assert len({id(messages), id(identity), id(public)}) == 3
        assert messages.connector is not identity.connector
        assert identity.connector is not None and identity.connector.limit_per_host >= 1
    finally:
        await http.close()


def _status_token(n: int, size: int) -> str:
    """A status list credential as a JWT that states its validity (read unverified, as the cache reads it)."""

    def b64(data: dict) -> str:
        import base64

        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    claims = {"validUntil": "2027-01-01T00:00:00Z", "n": n, "encodedList": "H" * size}
    return b64({"alg": "ES256", "typ": "vc+jwt"}) + "." + b64(claims) + ".c2ln"


async def test_status_lists_kept_stay_within_their_budget_however_many_and_large_they_come(fetching) -> None:
    import gc
    import tracemalloc

    fetcher, _ = fetching
    app = web.Application()

    async def status(request: web.Request) -> web.Response:
        return web.Response(text=_status_token(int(request.match_info["n"]), 3 * 1024 * 1024))

    app.router.add_get("/status/{n}", status)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for n in range(40):  # 40 lists of 3 MiB: 120 MiB fetched
            await fetcher.status_list(f"http://127.0.0.1:{port}/status/{n}", refetch=False)
        gc.collect()
        held = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
    finally:
        await runner.cleanup()
    kept = fetcher.cached_status_lists()
    assert 0 < len(kept) < 40 and kept[-1][0].endswith("/status/39")  # the latest kept, the oldest forgotten
    assert held < 80 * 1024 * 1024, held  # within the 64 Mi characters the fetcher keeps of status lists


def _large_document(did: str, kind: str) -> bytes:
    """A DID document of about 200 KiB, within MAX_DOCUMENT_BYTES: a hundred services with long endpoints, or a
    member of 40,000 empty lists (3 bytes each as text, 64 once parsed)."""
    body: dict = {"@context": [vocab.DID_CONTEXT], "id": did}
    if kind == "texts":
        body["service"] = [
            {"id": f"{did}#s{i}", "type": "LinkedDomains", "serviceEndpoint": f"https://example.com/{i}/" + "p" * 2000}
            for i in range(100)
        ]
    else:
        body["lists"] = [[] for _ in range(40_000)]
    return json.dumps(body, separators=(",", ":")).encode()


@pytest.fixture
async def documents():
    """A loopback server answering any number of distinct large DID documents: `did:web:example.com:<kind>-<n>`."""
    app = web.Application()

    async def document(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        return web.Response(body=_large_document(f"did:web:example.com:{name}", name.partition("-")[0]))

    app.router.add_get("/{name}/did.json", document)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield lambda name: (f"did:web:example.com:{name}", f"http://127.0.0.1:{port}/{name}/did.json")
    await runner.cleanup()


async def _held_after(fetcher: Fetcher, peers: list[tuple[str, str]]) -> int:
    """Bytes still held once every peer's document was fetched (and parsed) in turn."""
    import gc
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for did, url in peers:
            assert isinstance(await fetcher.did_document(did, url), DidDocument)
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


async def test_did_documents_kept_stay_within_their_budget_however_many_and_large_they_come(
    fetching, documents
) -> None:
    fetcher, _ = fetching
    assert 190 * 1024 < len(_large_document(documents("texts-199")[0], "texts")) < MAX_DOCUMENT_BYTES
    held = await _held_after(fetcher, [documents(f"texts-{n}") for n in range(200)])  # 40 MiB fetched
    assert held < DOCUMENT_BUDGET * 1.25, held
    fetched = fetcher.fetches
    assert isinstance(await fetcher.did_document(*documents("texts-199")), DidDocument)
    assert fetcher.fetches == fetched  # the latest kept: answered without a fetch
    await fetcher.did_document(*documents("texts-0"))
    assert fetcher.fetches == fetched + 1  # the oldest forgotten


async def test_did_documents_are_kept_for_what_they_hold_not_for_what_was_fetched(fetching, documents) -> None:
    fetcher, _ = fetching
    assert len(_large_document(documents("lists-0")[0], "lists")) < MAX_DOCUMENT_BYTES
    # 8 documents of 120 KiB: 1 MiB fetched, 23 MiB once parsed; each holds more than an eighth of the budget.
    held = await _held_after(fetcher, [documents(f"lists-{n}") for n in range(8)])
    assert held < DOCUMENT_BUDGET / 4, held


async def test_a_credential_service_refusing_with_a_body_nested_past_reading_is_a_failed_fetch(fetching) -> None:
    async def refusing(request: web.Request) -> web.Response:
        return web.Response(status=500, body=b"[" * 100_000, content_type="application/json")

    app = web.Application()
    app.router.add_post("/presentations/query", refusing)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fetcher, _ = fetching
    try:
        with pytest.raises(FetchFailed, match="answered HTTP 500$"):
            await fetcher.presentation(f"http://127.0.0.1:{port}/presentations/query", b"{}", {}, DID)
    finally:
        await runner.cleanup()
