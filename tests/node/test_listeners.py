"""Listeners sharing a port (node.reuse_port): what lets replicas of one node on one machine serve its addresses."""

from __future__ import annotations

import contextlib

import aiohttp
import pytest
from aiohttp import web

from connector.config import LimitsSection, Listen
from connector.errors import ConnectorError
from connector.free_port import free_port
from connector.node.listeners import listen


def _app(name: str) -> web.Application:
    async def who(request: web.Request) -> web.Response:
        return web.Response(text=name)

    app = web.Application()
    app.router.add_get("/", who)
    return app


async def test_listeners_with_reuse_port_share_it_and_one_without_is_refused():
    address = Listen("127.0.0.1", free_port())
    async with contextlib.AsyncExitStack() as stack:
        for name in ("first", "second"):
            listener = await listen(stack, "protocol", address, _app(name), None, LimitsSection(), reuse_port=True)
            assert listener.port == address.port
        answered = set()
        for _ in range(40):  # each connection goes to one of them (new connections: the kernel chooses)
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
                async with session.get(f"http://{address}/") as resp:
                    answered.add(await resp.text())
        assert answered == {"first", "second"}
        with pytest.raises(ConnectorError) as err:
            await listen(stack, "protocol", address, _app("third"), None, LimitsSection())
        assert err.value.code == "listen.in_use" and err.value.where == "protocol.listen"
    async with contextlib.AsyncExitStack() as stack:  # without it, one listener per port, as before
        await listen(stack, "management", address, _app("alone"), None, LimitsSection())
        with pytest.raises(ConnectorError) as err:
            await listen(stack, "management", address, _app("other"), None, LimitsSection(), reuse_port=True)
        assert err.value.code == "listen.in_use" and "does not share it" in err.value.reason
