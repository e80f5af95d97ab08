from __future__ import annotations

import asyncio
import base64
import os
import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from connector.sources import CHUNK_SIZE, SourceContext, SourceError, build_source, validate_source_config
from connector.sources.http import HttpSource
from connector.web.ranges import ByteRange, RangeNotSatisfiable

SECRET = "s3cret-token-value"
DATA = os.urandom(CHUNK_SIZE * 2 + 4321)


class Backend:
    """The provider's own back end, on loopback: it wants a bearer token and echoes it in its error pages."""

    def __init__(self) -> None:
        self.requests: list[dict[str, str]] = []
        self.app = web.Application()
        self.app.router.add_get("/data", self.data)
        self.app.router.add_get("/norange", self.no_range)
        self.app.router.add_get("/chunked", self.chunked)
        self.app.router.add_get("/error", self.error)
        self.app.router.add_get("/missing", self.missing)
        self.app.router.add_get("/redirect", self.redirect)
        self.app.router.add_get("/slow", self.slow)
        self.app.router.add_get("/truncated", self.truncated)
        self.app.router.add_get("/basic", self.basic)

    def _seen(self, request: web.Request) -> None:
        self.requests.append({"path": request.path, **dict(request.headers)})

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {SECRET}"

    async def data(self, request: web.Request) -> web.Response:
        self._seen(request)
        if not self._authorised(request):
            return web.Response(status=401, text="no token")
        r = request.http_range
        if request.headers.get("Range") and (r.start or 0) >= len(DATA):
            return web.Response(status=416, headers={"Content-Range": f"bytes */{len(DATA)}"})
        if request.headers.get("Range"):
            start, stop = r.start or 0, min(r.stop or len(DATA), len(DATA))
            return web.Response(
                status=206,
                body=DATA[start:stop],
                content_type="text/csv",
                headers={"Content-Range": f"bytes {start}-{stop - 1}/{len(DATA)}"},
            )
        return web.Response(body=DATA, content_type="text/csv")

    async def no_range(self, request: web.Request) -> web.Response:
        self._seen(request)
        return web.Response(body=DATA, content_type="application/octet-stream")

    async def chunked(self, request: web.Request) -> web.StreamResponse:
        self._seen(request)
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for i in range(0, len(DATA), 10000):
            await response.write(DATA[i : i + 10000])
        await response.write_eof()
        return response

    async def error(self, request: web.Request) -> web.Response:
        self._seen(request)
        return web.Response(status=503, text=f"backend down, you sent {request.headers.get('Authorization')}")

    async def missing(self, request: web.Request) -> web.Response:
        self._seen(request)
        return web.Response(status=404, text="nope")

    async def redirect(self, request: web.Request) -> web.Response:
        self._seen(request)
        raise web.HTTPFound("/data")

    async def slow(self, request: web.Request) -> web.Response:
        self._seen(request)
        await asyncio.sleep(3)
        return web.Response(body=b"late")

    async def truncated(self, request: web.Request) -> web.StreamResponse:
        self._seen(request)
        response = web.StreamResponse()
        response.content_length = 100000
        await response.prepare(request)
        await response.write(b"x" * 1000)
        assert request.transport is not None
        request.transport.close()
        return response

    async def basic(self, request: web.Request) -> web.Response:
        self._seen(request)
        return web.Response(text=request.headers.get("Authorization", ""))


@pytest.fixture
async def backend() -> AsyncIterator[tuple[Backend, str]]:
    b = Backend()
    server = TestServer(b.app, host="127.0.0.1")
    await server.start_server()
    try:
        yield b, f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


def _context(session: aiohttp.ClientSession, **env: str) -> SourceContext:
    return SourceContext(http_session=session, environ={"BACKEND_TOKEN": SECRET, **env})


def _config(url: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "http",
        "url": url,
        "headers": {"Authorization": {"env": "BACKEND_TOKEN", "prefix": "Bearer "}, "X-Tenant": "org-a"},
        **extra,
    }


def _source(config: dict[str, Any], session: aiohttp.ClientSession) -> HttpSource:
    source = build_source(config, _context(session))
    assert isinstance(source, HttpSource)
    return source


def _no_secret_in(*things: object) -> None:
    for thing in things:
        assert SECRET not in repr(thing) and SECRET not in str(thing)


async def test_the_back_end_streams_through_byte_for_byte_with_its_credentials(
    backend: tuple[Backend, str], session: aiohttp.ClientSession
) -> None:
    b, base = backend
    source = _source(_config(base + "/data"), session)
    stream = await source.open()
    chunks = [c async for c in stream]
    await stream.aclose()
    assert b"".join(chunks) == DATA
    assert all(len(c) <= CHUNK_SIZE for c in chunks)
    assert b.requests[0]["Authorization"] == f"Bearer {SECRET}" and b.requests[0]["X-Tenant"] == "org-a"
    assert stream.info.media_type.startswith("text/csv")
    assert stream.info.size == stream.info.total_size == len(DATA)
    _no_secret_in(stream.info, source)


async def test_a_range_is_passed_through_to_a_back_end_that_supports_it(
    backend: tuple[Backend, str], session: aiohttp.ClientSession
) -> None:
    b, base = backend
    stream = await _source(_config(base + "/data"), session).open(ByteRange(1000, 300000))
    assert await stream.read_all() == DATA[1000:300000]
    assert b.requests[0]["Range"] == "bytes=1000-299999"
    assert stream.info.range == ByteRange(1000, 300000)
    assert stream.info.total_size == len(DATA) and stream.info.size == 299000


@pytest.mark.parametrize("path, ranges", [("/norange", True), ("/data", False)])
async def test_when_the_back_end_sends_everything_the_source_cuts_the_range_itself(
    backend: tuple[Backend, str], session: aiohttp.ClientSession, path: str, ranges: bool
) -> None:
    b, base = backend
    stream = await _source(_config(base + path, ranges=ranges), session).open(ByteRange(CHUNK_SIZE + 7, None))
    assert await stream.read_all() == DATA[CHUNK_SIZE + 7 :]
    assert stream.info.range == ByteRange(CHUNK_SIZE + 7, len(DATA))
    assert ("Range" in b.requests[0]) is ranges


async def test_a_range_of_an_unsized_answer_that_ignored_it_is_unsupported(
    backend: tuple[Backend, str], session: aiohttp.ClientSession
) -> None:
    _, base = backend
    source = _source(_config(base + "/chunked"), session)
    with pytest.raises(SourceError) as caught:
        await source.open(ByteRange(10))
    assert caught.value.code == "source.range.unsupported"
    stream = await source.open()  # the caller falls back to the whole
    assert await stream.read_all() == DATA
    assert stream.info.size is None


async def test_a_range_past_the_end_reports_the_back_ends_size(
    backend: tuple[Backend, str], session: aiohttp.ClientSession
) -> None:
    _, base = backend
    with pytest.raises(RangeNotSatisfiable) as caught:
        await _source(_config(base + "/data"), session).open(ByteRange(len(DATA) + 5))
    assert caught.value.total == len(DATA)


async def test_an_upstream_error_becomes_a_problem_without_the_upstream_body(
    backend: tuple[Backend, str], session: aiohttp.ClientSession
) -> None:
    _, base = backend
    with pytest.raises(SourceError) as caught:
        await _source(_config(base + "/error"), session).open()
    problem = caught.value.problem
    assert problem.code == "source.http.status"
    assert problem.reason == "the back end answered 503 Service Unavailable"
    assert problem.details == {"upstream_status": 503}
    _no_secret_in(problem, problem.details)
    assert "backend down" not in str(problem)


async def test_not_found_and_redirects_are_reported_and_redirects_not_followed(
    backend: tuple[Backend, str], session: aiohttp.ClientSession
) -> None:
    b, base = backend
    with pytest.raises(SourceError) as caught:
        await _source(_config(base + "/missing"), session).open()
    assert caught.value.code == "source.http.not_found"
    with pytest.raises(SourceError) as caught:
        await _source(_config(base + "/redirect"), session).open()
    assert caught.value.code == "source.http.redirect"
    assert [r["path"] for r in b.requests] == ["/missing", "/redirect"]


async def test_a_back_end_slower_than_the_read_timeout_times_out(
    backend: tuple[Backend, str], session: aiohttp.ClientSession
) -> None:
    _, base = backend
    source = _source(_config(base + "/slow", timeouts={"read": 0.2}), session)
    with pytest.raises(SourceError) as caught:
        await source.open()
    assert caught.value.code == "source.http.timeout"


async def test_an_answer_that_breaks_off_is_reported_truncated(
    backend: tuple[Backend, str], session: aiohttp.ClientSession
) -> None:
    _, base = backend
    stream = await _source(_config(base + "/truncated"), session).open()
    with pytest.raises(SourceError) as caught:
        async for _ in stream:
            pass
    await stream.aclose()
    assert caught.value.code == "source.http.truncated"


async def test_an_unreachable_back_end_is_reported_without_its_address(session: aiohttp.ClientSession) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(SourceError) as caught:
        await _source(_config(f"http://127.0.0.1:{port}/x"), session).open()
    assert caught.value.code == "source.http.unreachable"
    assert str(port) not in caught.value.reason


async def test_basic_auth_credentials_come_from_the_environment(
    backend: tuple[Backend, str], session: aiohttp.ClientSession
) -> None:
    _, base = backend
    config = {"type": "http", "url": base + "/basic", "basicAuth": {"username": "svc", "password": {"env": "PW"}}}
    source = build_source(config, _context(session, PW="pa:ss"))
    stream = await source.open()
    assert await stream.read_all() == b"Basic " + base64.b64encode(b"svc:pa:ss")


def test_a_missing_environment_variable_is_named_at_build_without_any_value(session: aiohttp.ClientSession) -> None:
    with pytest.raises(SourceError) as caught:
        build_source(_config("http://127.0.0.1:9/x"), SourceContext(http_session=session, environ={}))
    assert caught.value.code == "source.secret.missing"
    assert "BACKEND_TOKEN" in caught.value.reason
    assert caught.value.where == "headers.Authorization"


async def test_secrets_are_read_from_the_process_environment_by_default(
    backend: tuple[Backend, str], session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    b, base = backend
    monkeypatch.setenv("BACKEND_TOKEN", SECRET)
    source = build_source(_config(base + "/data"), SourceContext(http_session=session))
    stream = await source.open(ByteRange(0, 10))
    assert await stream.read_all() == DATA[:10]


def test_a_source_without_a_session_cannot_be_built() -> None:
    with pytest.raises(SourceError) as caught:
        build_source({"type": "http", "url": "https://b.example/x"}, SourceContext(environ={}))
    assert caught.value.code == "source.http.no_session"


@pytest.mark.parametrize(
    ("config", "where"),
    [
        ({"url": "ftp://b.example/x"}, "url"),
        ({"url": "https://user:pw@b.example/x"}, "url"),
        ({"url": "/relative"}, "url"),
        ({"url": "https://b.example/x#frag"}, "url"),
        ({"url": "https://b.example:99999/x"}, "url"),
        ({"url": "https://b.example/a b"}, "url"),
        ({"url": "https://b.example/x", "headers": {"Range": "bytes=0-"}}, "headers.Range"),
        ({"url": "https://b.example/x", "headers": {"host": "evil"}}, "headers.host"),
        ({"url": "https://b.example/x", "headers": {"Bad Name": "v"}}, "headers.Bad Name"),
        ({"url": "https://b.example/x", "headers": {"X-A": "v\r\nInjected: 1"}}, "headers.X-A"),
        ({"url": "https://b.example/x", "headers": {"X-A": {"env": "1BAD"}}}, "headers.X-A.env"),
        ({"url": "https://b.example/x", "headers": {"X-A": {"env": "OK", "other": 1}}}, "headers.X-A.other"),
        ({"url": "https://b.example/x", "timeouts": {"read": 0}}, "timeouts.read"),
        ({"url": "https://b.example/x", "timeouts": {"forever": 1}}, "timeouts.forever"),
        ({"url": "https://b.example/x", "ranges": "yes"}, "ranges"),
        ({"url": "https://b.example/x", "heders": {}}, "heders"),
        ({"url": "https://b.example/x", "basicAuth": {"username": "a:b", "password": "p"}}, "basicAuth.username"),
        ({"url": "https://b.example/x", "basicAuth": {"username": "a"}}, "basicAuth.password"),
        ({"url": "https://b.example/x", "mediaType": "text"}, "mediaType"),
        ({}, "url"),
    ],
)
def test_invalid_http_configurations_name_the_field(config: dict[str, Any], where: str) -> None:
    problems = validate_source_config({"type": "http", **config})
    assert where in [p.where for p in problems], problems


def test_a_valid_http_configuration_has_no_problems() -> None:
    assert validate_source_config(_config("https://backend.internal:8443/export.csv", mediaType="text/csv")) == []
