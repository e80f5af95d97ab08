"""Where a provider sends what it owes a consumer is the consumer's word (its callbackAddress and process id), so
that word is checked when the message arrives, and what is built from it cannot leave for anyone else: callbacks
are https URLs, process ids are opaque path segments, a callback server that is not the consumer gets no byte of
the request, and a redirect is not followed."""

from __future__ import annotations

import asyncio
import ssl

import aiohttp
import pytest
from aiohttp import web
from nodekit import (
    WEATHER_OFFER,
    Management,
    dsp_settings,
    free_port,
    make_participant,
    offered_weather,
    running_node,
    serving_as,
    wait_for,
    write_config,
)

from connector.control.steps import NEGOTIATION
from connector.dsp.messages import ContractRequestMessage, TransferRequestMessage
from connector.dsp.vocabulary import NegotiationState, Role
from connector.records.processes import Negotiation

DSP = "/dsp/2025-1"
SETTINGS = dsp_settings(retry_initial=0.05, retry_max=0.2, delivery_deadline=2.0) + offered_weather()


@pytest.fixture
def world(authority, tmp_path):
    """A provider node, a member who talks to it by hand (mallory), and a third member (victim)."""
    provider = make_participant(authority, tmp_path, "provider")
    mallory = make_participant(authority, tmp_path, "mallory")
    victim = make_participant(authority, tmp_path, "victim")
    return provider, mallory, victim, write_config(provider, tmp_path, extra=SETTINGS)


async def _post(participant, url: str, body: dict) -> tuple[int, dict]:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=participant.client_ssl())) as session:
        async with session.post(url, json=body) as resp:
            return resp.status, await resp.json(content_type=None)


def _request(consumer_pid: str, callback: str) -> dict:
    return ContractRequestMessage(consumer_pid=consumer_pid, offer=WEATHER_OFFER, callback_address=callback).to_json()


class RawTlsServer:
    """A TLS server presenting `who`'s certificate that records every byte it receives after the handshake."""

    def __init__(self, who) -> None:
        self.who = who
        self.port = free_port()
        self.connections = 0
        self.received = b""

    async def __aenter__(self) -> RawTlsServer:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.who.tls_cert, self.who.tls_key)
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, ssl=ctx)
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while chunk := await asyncio.wait_for(reader.read(65536), 5):
                self.received += chunk
        except (OSError, TimeoutError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def __aexit__(self, *exc) -> None:
        self.server.close()
        await self.server.wait_closed()


async def _provider_negotiations(provider) -> list[dict]:
    return (await Management(provider).call("GET", "/v1/negotiations?role=provider", None, 200))["items"]


async def test_a_callback_that_is_not_https_is_refused_when_the_message_arrives(world):
    provider, mallory, _, config = world
    async with running_node(config):
        internal = f"http://127.0.0.1:{provider.management_port}/v1"  # the provider's own management API
        url = f"https://localhost:{provider.protocol_port}{DSP}"
        status, error = await _post(mallory, f"{url}/negotiations/request", _request("urn:uuid:c-1", internal))
        assert status == 400 and error["@type"] == "ContractNegotiationError", error
        assert error["code"] == "dsp.invalid_message" and "callbackAddress must be an https URL" in error["reason"][0]
        transfer = TransferRequestMessage(
            consumer_pid="urn:uuid:c-2", agreement_id="a-1", format="HttpData-PULL", callback_address=internal
        ).to_json()
        status, error = await _post(mallory, f"{url}/transfers/request", transfer)
        assert status == 400 and error["@type"] == "TransferError", error
        assert "callbackAddress must be an https URL" in error["reason"][0]
        for sneaky in ("https://user@localhost/dsp", "https://localhost/dsp?next=http://127.0.0.1:9"):
            status, error = await _post(mallory, f"{url}/negotiations/request", _request("urn:uuid:c-3", sneaky))
            assert status == 400 and "callbackAddress may not hold" in error["reason"][0], error
        assert await _provider_negotiations(provider) == []


@pytest.mark.parametrize("pid", ["../../x?q=", "a/b", "x#y", "100%25", "line\nbreak", "p" * 300])
async def test_a_process_id_that_is_not_an_opaque_path_segment_is_refused(world, pid):
    provider, mallory, _, config = world
    async with running_node(config):
        url = f"https://localhost:{provider.protocol_port}{DSP}"
        callback = f"https://localhost:{mallory.protocol_port}{DSP}"
        status, error = await _post(mallory, f"{url}/negotiations/request", _request(pid, callback))
        assert status == 400 and error["code"] == "dsp.invalid_message", error
        assert error["reason"][0].startswith("invalid ContractRequestMessage: consumerPid"), error
        assert await _provider_negotiations(provider) == []


async def test_a_process_id_in_the_path_is_checked_too(world):
    provider, mallory, _, config = world
    async with running_node(config):
        url = f"https://localhost:{provider.protocol_port}{DSP}/negotiations/a..b"
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=mallory.client_ssl())) as session:
            async with session.get(url) as resp:
                assert resp.status == 400, await resp.text()
                assert "the process id in the path may not hold '..'" in (await resp.json())["reason"][0]


async def test_a_callback_served_by_another_participant_gets_no_byte_of_the_agreement(world):
    provider, mallory, victim, config = world
    async with running_node(config), RawTlsServer(victim) as elsewhere:
        callback = f"https://localhost:{elsewhere.port}{DSP}"
        status, ack = await _post(
            mallory,
            f"https://localhost:{provider.protocol_port}{DSP}/negotiations/request",
            _request("urn:uuid:m-1", callback),
        )
        assert status == 201, ack
        pm = Management(provider)
        done = await pm.await_negotiation(ack["providerPid"], "TERMINATED")
        assert done["state"] == "TERMINATED", done
        assert victim.participant_id in done["reason"] and f"not by {mallory.participant_id}" in done["reason"], done
        await wait_for(lambda: elsewhere.connections >= 1)
    assert elsewhere.received == b"", "the handshake happened, but not a byte of the request was written"


async def test_a_redirect_from_the_callback_is_not_followed(world):
    provider, mallory, _, config = world
    hits: list[str] = []

    async def target(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.json_response({})

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(f"http://127.0.0.1:{inside}/v1/negotiations")

    inside = free_port()
    inner = web.AppRunner(web.Application())
    inner.app.router.add_route("*", "/{tail:.*}", target)
    await inner.setup()
    await web.TCPSite(inner, "127.0.0.1", inside).start()
    try:
        async with serving_as(mallory, moved), running_node(config):
            status, ack = await _post(
                mallory,
                f"https://localhost:{provider.protocol_port}{DSP}/negotiations/request",
                _request("urn:uuid:m-2", f"https://localhost:{mallory.protocol_port}{DSP}"),
            )
            assert status == 201, ack
            done = await Management(provider).await_negotiation(ack["providerPid"], "TERMINATED")
            assert done["state"] == "TERMINATED" and "with 307" in done["reason"], done
    finally:
        await inner.cleanup()
    assert hits == []


def test_a_process_id_goes_into_a_url_as_one_percent_encoded_segment():
    record = Negotiation(
        id="p-1",
        role=Role.PROVIDER,
        state=NegotiationState.REQUESTED,
        peer_id="did:web:localhost%3A1:c",
        peer_address="https://localhost:1/dsp/2025-1",
        provider_pid="p-1",
        consumer_pid="urn:uuid:a b\u00e9",
    )
    assert NEGOTIATION.url(record, "agreement") == (
        "https://localhost:1/dsp/2025-1/negotiations/urn:uuid:a%20b%C3%A9/agreement"
    )
