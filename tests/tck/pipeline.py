"""The TCK's scenario steps, one class per role the node plays, mirroring the TCK's pipelines.

Each step does what the TCK's step does, in the same order: it moves the TCK's own view of the process where the
TCK moves it (before or after the request), pauses where the TCK pauses, and sends the TCK's message. Waiting
for the node is `expect(...)` (register before the step that triggers the message) then `wait_for_state(...)`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tck import tck_messages as msg
from tck.client import CutEndpoints, TckClient
from tck.fake_tck import Expectation, FakeTck, Received
from tck.tck_machines import NegotiationState as NS
from tck.tck_machines import NegotiationView, TransferView
from tck.tck_machines import TransferState as TS

STEP_PAUSE = 0.1  # the TCK's pause() before terminations, verifications and negotiation reads
HTTP_PULL = "HttpData-PULL"


@dataclass(frozen=True)
class Harness:
    tck: FakeTck
    client: TckClient
    cut: CutEndpoints


class _Run:
    view: NegotiationView | TransferView

    def __init__(self, harness: Harness):
        self.h = harness

    @property
    def pid(self) -> str:
        """The TCK's own pid of this process (what the node sends messages for)."""
        return self.view.own_pid

    @property
    def provider_pid(self) -> str:
        return _known(self.view.provider_pid, "providerPid")

    @property
    def consumer_pid(self) -> str:
        return _known(self.view.consumer_pid, "consumerPid")

    @property
    def address(self) -> str:
        """Where the TCK sends its messages for this process: the node's DSP base or its callbackAddress."""
        return _known(self.view.callback_address, "the node's address")

    def expect(self, kind: str, timeout: float | None = None) -> Expectation:
        return self.h.tck.expect(kind, self.pid, timeout)

    async def wait_for_state(self, expectation: Expectation | None, state: str) -> Received | None:
        """The TCK's thenWaitForState: the awaited message arrived and the TCK's own view is in `state`."""
        received = await expectation if expectation is not None else None
        assert self.view.state == state, f"the TCK's process is {self.view.state}, expected {state}" + (
            f" after {received.kind}" if received else ""
        )
        return received

    def finish(self, *keys: str) -> None:
        self.h.tck.assert_quiet(self.pid, *keys)


class NegotiationWithProvider(_Run):
    """CN: the node is the provider; the TCK requests, counter-offers, accepts, verifies and terminates."""

    view: NegotiationView

    def __init__(self, harness: Harness, dataset_id: str, offer_id: str):
        super().__init__(harness)
        self.view = harness.tck.new_negotiation(dataset_id, offer_id, harness.cut.dsp_url)

    async def send_request(self) -> Mapping[str, Any]:
        message = msg.contract_request(self.pid, self.view.offer_id, self.view.dataset_id, self.h.tck.address)
        answer = await self.h.client.contract_request(message)
        _adopt_cut_pid(self.view, answer["providerPid"], "providerPid")
        _requested(self.view, NS.INITIALIZED, NS.REQUESTED)
        return answer

    async def send_counter_offer(self, offer_id: str, target: str, expect_error: bool = False) -> None:
        # The TCK's own negotiation has no counter-party id, so the counter-offer carries no assigner.
        message = msg.counter_offer(self.provider_pid, self.consumer_pid, offer_id, None, msg.TCK_PARTICIPANT, target)
        if not expect_error:
            self.view.move(NS.REQUESTED)
        await self.h.client.counter_offer(message, expect_error)

    async def accept_last_offer(self) -> None:
        self.view.move(NS.ACCEPTED)
        await self.h.client.accept(msg.accepted_event(self.provider_pid, self.consumer_pid))

    async def send_verification(self, expect_error: bool = False) -> None:
        await asyncio.sleep(STEP_PAUSE)
        if not expect_error:
            self.view.move(NS.VERIFIED)
        await self.h.client.verify(msg.verification(self.provider_pid, self.consumer_pid), expect_error)

    async def send_termination(self, expect_error: bool = False) -> None:
        await asyncio.sleep(STEP_PAUSE)
        message = msg.negotiation_termination(self.provider_pid, self.consumer_pid)
        await self.h.client.terminate_negotiation(self.address, self.provider_pid, message, expect_error)
        if not expect_error:
            self.view.move(NS.TERMINATED)

    async def verify_provider_state(self, state: str) -> None:
        """GET-P: one read of the node's negotiation."""
        actual = await self.h.client.negotiation_state(self.address, self.provider_pid)
        assert actual == state, f"the node's negotiation {self.provider_pid} is {actual}, expected {state}"


class NegotiationWithConsumer(_Run):
    """CN_C: the node is the consumer; the TCK is asked through the webhook, then offers, agrees, finalizes."""

    view: NegotiationView

    def __init__(self, harness: Harness, dataset_id: str):
        super().__init__(harness)
        self.dataset_id = dataset_id
        self.offer_id = msg.offer_id_for(dataset_id)
        self.request: Received | None = None

    async def initiate(self) -> Received:
        """expectInitialRequest + initiateRequest + thenWaitForState(REQUESTED)."""
        arrival = self.h.tck.expect_negotiation_request(self.dataset_id)
        await self.h.client.initiate_negotiation(self.dataset_id, self.offer_id, self.h.tck.address)
        self.request = await arrival
        assert self.request.pid is not None
        self.view = self.h.tck.negotiations[self.request.pid]
        offer = self.request.body["offer"]
        assert offer["@id"] == self.offer_id, f"the node changed the offer id to {offer['@id']!r}"
        assert offer.get("target") == self.dataset_id, f"the offer targets {offer.get('target')!r}"
        await self.wait_for_state(None, NS.REQUESTED)
        return self.request

    async def send_offer(self, expect_error: bool = False) -> None:
        message = msg.contract_offer(
            self.provider_pid,
            self.consumer_pid,
            self.view.offer_id,
            msg.TCK_PARTICIPANT,
            self.h.cut.agent_id,
            self.view.dataset_id,
        )
        await self.h.client.contract_offer(self.address, self.consumer_pid, message, expect_error)
        if not expect_error:
            self.view.move(NS.OFFERED)

    async def send_agreement(self, expect_error: bool = False) -> None:
        message = msg.contract_agreement(
            self.provider_pid,
            self.consumer_pid,
            msg.new_id(),
            msg.TCK_PARTICIPANT,
            self.h.cut.agent_id,
            self.view.dataset_id,
            self.h.tck.address,
        )
        await self.h.client.contract_agreement(self.address, self.consumer_pid, message, expect_error)
        if not expect_error:
            self.view.move(NS.AGREED)

    async def send_finalized(self, expect_error: bool = False) -> None:
        message = msg.finalized_event(self.provider_pid, self.consumer_pid)
        await self.h.client.finalize(self.address, self.consumer_pid, message, expect_error)
        if not expect_error:
            self.view.move(NS.FINALIZED)

    async def send_termination(self, expect_error: bool = False) -> None:
        await asyncio.sleep(STEP_PAUSE)
        message = msg.negotiation_termination(self.provider_pid, self.consumer_pid)
        await self.h.client.terminate_negotiation(self.address, self.consumer_pid, message, expect_error)
        if not expect_error:
            self.view.move(NS.TERMINATED)

    async def verify_consumer_state(self, state: str) -> None:
        """GET-C: one read of the node's negotiation at its callbackAddress."""
        actual = await self.h.client.negotiation_state(self.address, self.consumer_pid)
        assert actual == state, f"the node's negotiation {self.consumer_pid} is {actual}, expected {state}"

    def finish(self, *keys: str) -> None:
        super().finish(self.dataset_id, *keys)


class _TransferRun(_Run):
    view: TransferView

    async def send_start(self, data_address: Mapping[str, Any] | None = None, expect_error: bool = False) -> None:
        message = msg.transfer_start(self.provider_pid, self.consumer_pid, dict(data_address) if data_address else None)
        await self.h.client.start_transfer(self.address, self._counterpart_pid, message, expect_error)
        if not expect_error:
            self.view.move(TS.STARTED)

    async def send_completion(self, expect_error: bool = False) -> None:
        message = msg.transfer_completion(self.provider_pid, self.consumer_pid)
        await self.h.client.complete_transfer(self.address, self._counterpart_pid, message, expect_error)
        if not expect_error:
            self.view.move(TS.COMPLETED)

    async def send_suspension(self, expect_error: bool = False) -> None:
        message = msg.transfer_suspension(self.provider_pid, self.consumer_pid)
        await self.h.client.suspend_transfer(self.address, self._counterpart_pid, message, expect_error)
        if not expect_error:
            self.view.move(TS.SUSPENDED)

    async def send_termination(self, expect_error: bool = False) -> None:
        message = msg.transfer_termination(self.provider_pid, self.consumer_pid)
        await self.h.client.terminate_transfer(self.address, self._counterpart_pid, message, expect_error)
        if not expect_error:
            self.view.move(TS.TERMINATED)

    async def verify_cut_state(self, state: str) -> None:
        """GET-P / GET-C for transfers: polled until the node reports `state`."""
        await self.h.client.await_transfer_state(self.address, self._counterpart_pid, state)

    @property
    def _counterpart_pid(self) -> str:
        return _known(self.view.cut_pid, "the node's pid")


class TransferWithProvider(_TransferRun):
    """TP: the node is the provider; the TCK requests a transfer under a seeded agreement."""

    def __init__(self, harness: Harness, agreement_id: str, transfer_format: str = HTTP_PULL):
        super().__init__(harness)
        self.view = harness.tck.new_transfer(agreement_id, transfer_format, harness.cut.dsp_url)

    async def send_request(self) -> Mapping[str, Any]:
        message = msg.transfer_request(self.pid, self.view.agreement_id, self.view.format, self.h.tck.address)
        answer = await self.h.client.transfer_request(message)
        _adopt_cut_pid(self.view, answer["providerPid"], "providerPid")
        _requested(self.view, TS.INITIALIZED, TS.REQUESTED)
        return answer

    async def verify_provider_state(self, state: str) -> None:
        await self.verify_cut_state(state)


class TransferWithConsumer(_TransferRun):
    """TP_C: the node is the consumer; the TCK asks it through the webhook to request a transfer."""

    def __init__(self, harness: Harness, agreement_id: str, transfer_format: str = HTTP_PULL):
        super().__init__(harness)
        self.agreement_id = agreement_id
        self.transfer_format = transfer_format
        self.request: Received | None = None

    async def initiate(self) -> Received:
        """expectTransferRequest + initiateTransferRequest + thenWaitForState(REQUESTED)."""
        arrival = self.h.tck.expect_transfer_request(self.agreement_id)
        await self.h.client.initiate_transfer(self.agreement_id, self.transfer_format, self.h.tck.address)
        self.request = await arrival
        assert self.request.pid is not None
        self.view = self.h.tck.transfers[self.request.pid]
        body = self.request.body
        assert body.get("format") == self.transfer_format, f"the node asked for format {body.get('format')!r}"
        await self.wait_for_state(None, TS.REQUESTED)
        return self.request

    async def verify_consumer_state(self, state: str) -> None:
        await self.verify_cut_state(state)

    def finish(self, *keys: str) -> None:
        super().finish(self.agreement_id, *keys)


def _known(value: str | None, what: str) -> str:
    if value is None:
        raise AssertionError(f"{what} is not known yet at this step")
    return value


def _adopt_cut_pid(view: NegotiationView | TransferView, pid: str, key: str) -> None:
    if view.cut_pid is not None and view.cut_pid != pid:
        raise AssertionError(f"the node answered {key} {pid!r}, but already sent messages for {view.cut_pid!r}")
    view.cut_pid = pid


def _requested(view: NegotiationView | TransferView, initial: NS | TS, requested: NS | TS) -> None:
    if view.state != initial:
        raise AssertionError(
            f"the node sent a message (the TCK's process is {view.state}) before the TCK had its answer to the "
            "request; the TCK would lose track of the process (TCK.md 3.6, races)"
        )
    view.move(requested)  # type: ignore[arg-type]  # the two views take their own state type
