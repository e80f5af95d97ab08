"""Routes made on their first request resolve as if they had been added at start, and only the paths they claim
make them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from connector.web.deferred import DeferredRoutes


class Part:
    def __init__(self) -> None:
        self.made = 0
        self.seen: list[tuple[str, str]] = []

    def routes(self) -> list[web.RouteDef]:
        self.made += 1

        async def page(request: web.Request) -> web.Response:
            route = request.match_info.route
            assert route.resource is not None
            self.seen.append((route.resource.canonical, request.match_info.get("id", "")))
            return web.Response(text=f"page {request.match_info.get('id', '')}")

        async def home(request: web.Request) -> web.Response:
            raise web.HTTPSeeOther("/part/")

        return [
            web.get("/", home),
            web.get("/part/", page),
            web.get("/part/items/{id}", page),
            web.post("/part/items/{id}", page),
        ]


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, Part, web.Application]]:
    part = Part()
    app = web.Application()

    async def other(request: web.Request) -> web.Response:
        return web.Response(text="other")

    app.add_routes([web.get("/other", other), DeferredRoutes("/part", ["/"], part.routes)])
    server = TestServer(app)
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/"), part, app
    finally:
        await server.close()


async def fetch(method: str, url: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url, allow_redirects=False) as resp:
            return resp.status, await resp.text(), resp.headers.get("Location", "")


async def test_other_paths_do_not_make_the_routes(served) -> None:
    base, part, app = served
    assert await fetch("GET", base + "/other") == (200, "other", "")
    assert (await fetch("GET", base + "/nowhere"))[0] == 404
    assert (await fetch("GET", base + "/partial"))[0] == 404
    assert part.made == 0
    assert [r for r in app.router.routes() if r.resource is not None and "part" in r.resource.canonical] == []


async def test_the_first_claimed_request_makes_them_once_and_they_resolve_as_added_routes(served) -> None:
    base, part, app = served
    assert await fetch("GET", base + "/part/items/7") == (200, "page 7", "")
    assert await fetch("GET", base + "/") == (303, "303: See Other", "/part/")
    assert (await fetch("POST", base + "/part/items/8"))[:2] == (200, "page 8")
    assert part.made == 1
    # The handler saw the real route (its canonical path, its variables), as a route added at start is seen.
    assert part.seen == [("/part/items/{id}", "7"), ("/part/items/{id}", "8")]
    # What the part does not serve is answered as the application answers it: no such path, or not that method.
    assert (await fetch("GET", base + "/part/nothing"))[0] == 404
    assert (await fetch("DELETE", base + "/part/items/7"))[0] == 405
    assert (await fetch("GET", base + "/nowhere"))[0] == 404
    listed = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None}
    assert ("GET", "/part/items/{id}") in listed and ("POST", "/part/items/{id}") in listed
