"""The TCK's requests to the node under test, with the checks the TCK makes on each answer.

HTTP rules of the TCK (TCK.md 3.6): every request carries the configured `Authorization` value; any 2xx is a
success; a 404 always fails; an unexpected 4xx is retried up to three attempts in all (200 ms, then 400 ms
apart); where an error is expected the answer must be a 4xx other than 404, and here its body must also be a
schema-valid ContractNegotiationError or TransferError. Documents in answers go through `wire_checks`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from tck import tck_messages as msg
from tck.wire_checks import catalog_dataset_ids, document_problems, parse_json, version_problems

RETRY_DELAYS = (0.2, 0.4)  # the TCK makes three attempts in all
NEGOTIATION_READ_PAUSE = 0.1  # the TCK reads a negotiation once, about 100 ms after its previous step
TRANSFER_POLL = 0.1
DEFAULT_WAIT = 5.0


@dataclass(frozen=True)
class CutEndpoints:
    """What the TCK is told about the node (its properties file)."""

    dsp_url: str  # dataspacetck.dsp.connector.http.url
    base_url: str  # dataspacetck.dsp.connector.http.base.url
    authorization: str  # dataspacetck.dsp.connector.http.headers.authorization
    agent_id: str  # dataspacetck.dsp.connector.agent.id
    negotiation_initiate_url: str
    transfer_initiate_url: str


@dataclass(frozen=True)
class Reply:
    status: int
    body: Any  # the decoded JSON, or None for an empty or non-JSON body
    text: str
    attempts: int
    url: str


class TckClient:
    def __init__(self, session: aiohttp.ClientSession, cut: CutEndpoints, default_wait: float = DEFAULT_WAIT):
        self.session = session
        self.cut = cut
        self.default_wait = default_wait

    # --- HTTP, as the TCK does it ---------------------------------------------------------------------------

    async def post(self, url: str, message: Mapping[str, Any], expect_error: bool = False) -> Reply:
        attempts = 0
        while True:
            attempts += 1
            reply = await self._send("POST", url, message, attempts)
            retry = not expect_error and 400 <= reply.status < 500 and reply.status != 404
            if retry and attempts <= len(RETRY_DELAYS):
                await asyncio.sleep(RETRY_DELAYS[attempts - 1])
                continue
            _judge(reply, expect_error)
            return reply

    async def get(self, url: str, expect_error: bool = False) -> Reply:
        reply = await self._send("GET", url, None, 1)
        if reply.status == 404 and not expect_error:
            raise AssertionError(f"Unexpected 404 received for request: GET {url}: {_excerpt(reply)}")
        if not 200 <= reply.status < 300 and not expect_error:
            raise AssertionError(f"Unexpected response code {reply.status} for GET {url}: {_excerpt(reply)}")
        return reply

    async def _send(self, method: str, url: str, message: Mapping[str, Any] | None, attempts: int) -> Reply:
        headers = {"Authorization": self.cut.authorization}
        async with self.session.request(method, url, json=message, headers=headers) as response:
            raw = await response.read()
        body, _ = parse_json(raw)
        return Reply(response.status, body, raw.decode("utf-8", "replace"), attempts, f"{method} {url}")

    # --- metadata and catalogue -----------------------------------------------------------------------------

    async def version(self) -> Any:
        """MET:01-01: the version document (plain JSON, not JSON-LD)."""
        reply = await self.get(f"{self.cut.base_url}/.well-known/dspace-version")
        _require(reply, version_problems(reply.body))
        return reply.body

    async def catalog(self) -> Mapping[str, Any]:
        reply = await self.post(f"{self.cut.dsp_url}/catalog/request", msg.catalog_request())
        return _document(reply, "Catalog")

    async def dataset(self, dataset_id: str) -> Mapping[str, Any]:
        reply = await self.get(f"{self.cut.dsp_url}/catalog/datasets/{dataset_id}")
        return _document(reply, "Dataset")

    async def missing_dataset(self, dataset_id: str) -> Reply:
        """CAT:01-03: the TCK does not check the status here, only that the body is a CatalogError."""
        reply = await self.get(f"{self.cut.dsp_url}/catalog/datasets/{dataset_id}", expect_error=True)
        _document(reply, "CatalogError")
        return reply

    @staticmethod
    def dataset_ids(catalog: Mapping[str, Any]) -> list[str]:
        return catalog_dataset_ids(catalog)

    # --- negotiation, the node as provider ------------------------------------------------------------------

    async def contract_request(self, message: Mapping[str, Any]) -> Mapping[str, Any]:
        reply = await self.post(f"{self.cut.dsp_url}/negotiations/request", message)
        return _document(reply, "ContractNegotiation")

    async def counter_offer(self, message: Mapping[str, Any], expect_error: bool = False) -> Reply:
        url = f"{self.cut.dsp_url}/negotiations/{message['providerPid']}/request"
        return await self._message(url, message, expect_error, "ContractNegotiationError")

    async def accept(self, message: Mapping[str, Any]) -> Reply:
        url = f"{self.cut.dsp_url}/negotiations/{message['providerPid']}/events"
        return await self._message(url, message, False, "ContractNegotiationError")

    async def verify(self, message: Mapping[str, Any], expect_error: bool = False) -> Reply:
        url = f"{self.cut.dsp_url}/negotiations/{message['providerPid']}/agreement/verification"
        return await self._message(url, message, expect_error, "ContractNegotiationError")

    # --- negotiation, the node as consumer (at its callbackAddress) -----------------------------------------

    async def initiate_negotiation(self, dataset_id: str, offer_id: str, connector_address: str) -> Reply:
        body = msg.negotiation_initiation(dataset_id, offer_id, connector_address)
        return await self.post(self.cut.negotiation_initiate_url, body)

    async def contract_offer(
        self, address: str, consumer_pid: str, message: Mapping[str, Any], expect_error: bool = False
    ) -> Reply:
        url = f"{address}/negotiations/{consumer_pid}/offers"
        return await self._message(url, message, expect_error, "ContractNegotiationError")

    async def contract_agreement(
        self, address: str, consumer_pid: str, message: Mapping[str, Any], expect_error: bool = False
    ) -> Reply:
        url = f"{address}/negotiations/{consumer_pid}/agreement"
        return await self._message(url, message, expect_error, "ContractNegotiationError")

    async def finalize(
        self, address: str, consumer_pid: str, message: Mapping[str, Any], expect_error: bool = False
    ) -> Reply:
        url = f"{address}/negotiations/{consumer_pid}/events"
        return await self._message(url, message, expect_error, "ContractNegotiationError")

    # --- negotiation, either side ---------------------------------------------------------------------------

    async def terminate_negotiation(
        self, address: str, pid: str, message: Mapping[str, Any], expect_error: bool = False
    ) -> Reply:
        url = f"{address}/negotiations/{pid}/termination"
        return await self._message(url, message, expect_error, "ContractNegotiationError")

    async def get_negotiation(self, address: str, pid: str) -> Mapping[str, Any]:
        """GET-P / GET-C: one read of the node's negotiation; it must name its providerPid and a state."""
        reply = await self.get(f"{address}/negotiations/{pid}")
        return _document(reply, "ContractNegotiation")

    async def negotiation_state(self, address: str, pid: str) -> str:
        """The TCK's negotiation state check: a single read, about 100 ms after the previous step."""
        await asyncio.sleep(NEGOTIATION_READ_PAUSE)
        return str((await self.get_negotiation(address, pid))["state"])

    # --- transfer -------------------------------------------------------------------------------------------

    async def transfer_request(self, message: Mapping[str, Any]) -> Mapping[str, Any]:
        reply = await self.post(f"{self.cut.dsp_url}/transfers/request", message)
        return _document(reply, "TransferProcess")

    async def initiate_transfer(self, agreement_id: str, transfer_format: str, connector_address: str) -> Reply:
        body = msg.transfer_initiation(agreement_id, transfer_format, connector_address)
        return await self.post(self.cut.transfer_initiate_url, body)

    async def start_transfer(
        self, address: str, pid: str, message: Mapping[str, Any], expect_error: bool = False
    ) -> Reply:
        return await self._message(f"{address}/transfers/{pid}/start", message, expect_error, "TransferError")

    async def complete_transfer(
        self, address: str, pid: str, message: Mapping[str, Any], expect_error: bool = False
    ) -> Reply:
        return await self._message(f"{address}/transfers/{pid}/completion", message, expect_error, "TransferError")

    async def suspend_transfer(
        self, address: str, pid: str, message: Mapping[str, Any], expect_error: bool = False
    ) -> Reply:
        return await self._message(f"{address}/transfers/{pid}/suspension", message, expect_error, "TransferError")

    async def terminate_transfer(
        self, address: str, pid: str, message: Mapping[str, Any], expect_error: bool = False
    ) -> Reply:
        return await self._message(f"{address}/transfers/{pid}/termination", message, expect_error, "TransferError")

    async def get_transfer(self, address: str, pid: str) -> Mapping[str, Any]:
        reply = await self.get(f"{address}/transfers/{pid}")
        return _document(reply, "TransferProcess")

    async def await_transfer_state(self, address: str, pid: str, state: str, timeout: float | None = None) -> None:
        """The TCK's transfer state check: poll until the node reports `state`; any failed read fails at once."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout if timeout is not None else self.default_wait)
        while True:
            current = (await self.get_transfer(address, pid))["state"]
            if current == state:
                return
            if loop.time() >= deadline:
                raise AssertionError(f"the node's transfer {pid} stayed {current}, expected {state}")
            await asyncio.sleep(TRANSFER_POLL)

    # --- shared ---------------------------------------------------------------------------------------------

    async def _message(self, url: str, message: Mapping[str, Any], expect_error: bool, error_type: str) -> Reply:
        reply = await self.post(url, message, expect_error)
        if expect_error:
            _document(reply, error_type)
        elif reply.text.strip():
            _document(reply, None)  # DSP answers these with an empty 200; a body, if any, must be a sound document
        return reply


def _judge(reply: Reply, expect_error: bool) -> None:
    status = reply.status
    if status == 404:
        raise AssertionError(f"Unexpected 404 received for request: {reply.url}: {_excerpt(reply)}")
    if not 200 <= status < 300:
        if not expect_error or not 400 <= status < 500:
            raise AssertionError(f"Unexpected response code {status} for {reply.url}: {_excerpt(reply)}")
    elif expect_error:
        raise AssertionError(f"Expected to throw an error on request: {reply.url} answered {status}")


def _document(reply: Reply, expected: str | None) -> Mapping[str, Any]:
    if reply.body is None:
        what = expected or "DSP document"
        _require(reply, [f"the answer is not a JSON {what}"])
    _require(reply, document_problems(reply.body, expected))
    return reply.body


def _require(reply: Reply, problems: list[str]) -> None:
    if problems:
        raise AssertionError(
            f"{reply.url} answered {reply.status} with a body the TCK rejects: "
            + "; ".join(problems)
            + f" -- body: {_excerpt(reply)}"
        )


def _excerpt(reply: Reply, limit: int = 300) -> str:
    text = reply.text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."
