"""A store that cannot be used right now is "not now" to a peer (503 with Retry-After, in the protocol's error
body), whichever backend failed; a store that refuses a change is a failure of ours (500), never a refusal."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from connector.dsp.versions import DSP_BASE_PATH
from connector.protocol.dsp import dsp_errors
from connector.store.errors import StoreConflict, StoreUnavailable


async def _answer(error: Exception) -> tuple[int, dict[str, str], dict]:
    async def handler(request: web.Request) -> web.Response:
        raise error

    app = web.Application(middlewares=[dsp_errors])
    app.router.add_post(DSP_BASE_PATH + "/negotiations/request", handler)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        response = await client.post(DSP_BASE_PATH + "/negotiations/request", json={"consumerPid": "c1"})
        return response.status, dict(response.headers), await response.json()


async def test_a_store_unavailable_now_is_503_with_retry_after_in_the_protocol_s_error_body():
    status, headers, body = await _answer(StoreUnavailable("could not serialize access"))
    assert status == 503 and headers.get("Retry-After") == "1"
    assert body["@type"] == "ContractNegotiationError" and body["code"] == "store.unavailable", body
    assert "serialize" not in str(body)  # the database's words stay in the node's log


async def test_a_refused_change_is_a_failure_of_ours():
    status, headers, body = await _answer(StoreConflict("duplicate key value violates unique constraint"))
    assert status == 500 and "Retry-After" not in headers
    assert body["@type"] == "ContractNegotiationError" and body["code"] == "internal", body
    assert "duplicate" not in str(body)
