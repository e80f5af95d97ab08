"""The control plane: its step runner, engine and catalogue, made complete from the ports it is given.

Protocol and management handlers come here; this is the only object that knows how a received message becomes
a committed change plus the follow-up work it triggers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from connector.config import DspSection
from connector.control import catalog, claims_codec, seeds
from connector.control.apply import StepRunner, utcnow
from connector.control.decisions import Decisions
from connector.control.engine import DeliverySettings, Engine
from connector.control.events import Peer, Received
from connector.control.outcome import Reply
from connector.control.ports import AgreementSigner, DataPlane, EvidenceSink, no_evidence
from connector.control.steps import Script, Waits
from connector.control.timers import WaitTimers
from connector.policy.parties import PartyNames
from connector.policy.seam import Verdict
from connector.records.processes import Negotiation, Transfer
from connector.store.coordination import SOLO
from connector.store.interface import Coordination, Store
from connector.store.sql import processes as repo
from connector.tasks import Tasks
from connector.telemetry import NO_TELEMETRY, Telemetry
from connector.trust.claims import VerifiedClaims
from connector.web.peer_client import PeerClient

log = logging.getLogger("connector.control")

RESPONSES_KEPT_FOR = 24 * 3600.0  # seconds an answer stays remembered for retries (at least)
RESPONSES_SWEEP_INTERVAL = 3600.0


class ControlPlane:
    def __init__(
        self,
        *,
        participant_id: str,
        dsp: DspSection,
        store: Store,
        tasks: Tasks,
        peers: PeerClient,
        decisions: Decisions,
        callback: Callable[[], str],
        catalogue: catalog.CatalogueSettings,
        definitions: seeds.Seeds | None = None,
        dataplane: DataPlane | None = None,
        evidence: EvidenceSink = no_evidence,
        signer: AgreementSigner | None = None,
        script: Script | None = None,
        parties: PartyNames | None = None,
        telemetry: Telemetry = NO_TELEMETRY,
        withhold: catalog.Withhold | None = None,
        http_callbacks: bool = False,
        coordination: Coordination = SOLO,
        clock: Callable[[], datetime] = utcnow,  # the node's clock: its steps, deadlines and deliveries go by it
    ) -> None:
        self.participant_id = participant_id
        self.parties = parties or PartyNames()  # data-space names (aliases) of the participants
        self.tracer = telemetry.tracer
        self.store = store
        self.tasks = tasks
        self.decisions = decisions
        self.definitions = definitions or seeds.Seeds()
        self._dsp = dsp
        self.runner = StepRunner(
            participant_id=participant_id,
            callback=callback,
            decisions=decisions,
            delivery_deadline=dsp.delivery_deadline,
            message_spacing=dsp.message_spacing,
            script=script,
            evidence=evidence,
            dataplane=dataplane,
            signer=signer,
            http_callbacks=http_callbacks,
            clock=clock,
            waits=Waits(
                timedelta(seconds=dsp.wait_deadline),
                timedelta(seconds=dsp.state_query_after) if dsp.state_query_after > 0 else None,
            ),
        )
        self.engine = Engine(
            store,
            tasks,
            peers,
            self.runner,
            DeliverySettings(dsp.retry_initial, dsp.retry_max, dsp.retry_not_found_for),
            telemetry,
            coordination,
        )
        self.timers = WaitTimers(store, tasks, peers, self.runner, self.engine.settled)
        self.engine.checks = self.timers.schedule
        self.catalog = catalog.CatalogService(store, peers, decisions, catalogue, self.parties, withhold)
        coordination.on("definitions", lambda table: self.catalog.invalidate())  # changed through another replica

    async def load_definitions(self) -> None:
        """Write the configured assets, policies and offers (the configuration wins for the ids it names)."""
        definitions = self.definitions
        if definitions.assets or definitions.policies or definitions.offers:
            count = await self.store.run(seeds.apply, definitions)
            log.info("configured assets, policies and offers applied", extra={"definitions": count})

    async def resume(self) -> None:
        """Once peers can reach us: pick up unfinished steps and deliveries, look at waiting processes when their time
        comes, and forget old answers daily."""
        await self.engine.resume()
        self.timers.start()
        self.tasks.spawn(self._forget_old_responses(), "forget-old-responses")

    async def _forget_old_responses(self) -> None:
        """Answers are remembered by message `@id` so that a peer's retry gets the same answer; a peer retries
        for its delivery deadline at most, so after a generous margin the answers are dropped."""
        keep = timedelta(seconds=max(RESPONSES_KEPT_FOR, 2 * self._dsp.delivery_deadline))
        while True:
            dropped = await self.store.run(repo.forget_responses, self.runner.clock() - keep)
            if dropped:
                log.info("old remembered answers dropped", extra={"count": dropped})
            await asyncio.sleep(RESPONSES_SWEEP_INTERVAL)

    async def drain(self, grace: float) -> None:
        """The node begins to stop: no deadline or state query any more, nothing new starts, and the steps and
        deliveries under way get `grace` seconds to finish (while the listeners still serve what peers need to
        verify these last messages)."""
        await self.timers.stop()
        await self.engine.close(grace)

    async def stop(self) -> None:
        await self.timers.stop()
        await self.engine.close()

    # --- running steps --------------------------------------------------------------------------------------

    async def receive(self, kind: str, event: Received) -> Reply:
        """Apply a peer's message in a transaction, then start the work it left pending."""
        message_type = getattr(event.message, "TYPE", type(event.message).__name__)
        attributes = {"connector.process_kind": kind, "connector.peer": event.peer.participant_id}
        with self.tracer.span(f"dsp.receive {message_type}", attributes=attributes) as span:
            reply, status = await self.store.run(self.runner.receive, event)
            span.set("connector.process_id", reply.process_id or "")
            span.set("http.response.status_code", reply.status)
            if reply.process_id is not None and status is not None:
                self.engine.settled(kind, reply.process_id, status)
            return reply

    async def start_negotiation(
        self,
        provider_id: str,
        provider_address: str,
        offer: Mapping[str, Any],
        dataset_id: str,
        purpose: str | None = None,
    ) -> Negotiation:
        """Consumer: ask a provider for a contract on `offer`; the request leaves once committed. `provider_id`
        may be an alias of the provider's participant id."""
        provider_id = self.parties.participant(provider_id)
        with self.tracer.span("negotiation start", attributes={"connector.peer": provider_id}) as span:
            neg, status = await self.store.run(
                self.runner.start_negotiation, provider_id, provider_address, offer, dataset_id, purpose
            )
            span.set("connector.process_id", neg.id)
            self.engine.settled("negotiation", neg.id, status)
            return neg

    async def start_transfer(
        self,
        agreement_id: str,
        format: str,
        destination: Mapping[str, Any] | None = None,
        provider_id: str | None = None,
        provider_address: str | None = None,
    ) -> Transfer:
        """Consumer: request a transfer under one of our agreements (or, for conformance tests, a given provider)."""
        provider_id = self.parties.participant(provider_id) if provider_id is not None else None
        with self.tracer.span("transfer start", attributes={"connector.agreement_id": agreement_id}) as span:
            tp, status = await self.store.run(
                self.runner.start_transfer, agreement_id, format, destination, provider_id, provider_address
            )
            span.set("connector.process_id", tp.id)
            self.engine.settled("transfer", tp.id, status)
            return tp

    async def command(self, kind: str, pid: str, action: str, reason: str | None = None) -> Any:
        """A user's command on a process (terminate, accept, suspend, resume, complete), then what it queued."""
        with self.tracer.span(f"{kind} {action}", attributes={"connector.process_id": pid}):
            record, status = await self.store.run(self.runner.command, kind, pid, action, reason)
            self.engine.settled(kind, record.id, status)
            return record

    async def transfer_command(self, transfer_id: str, action: str, reason: str | None) -> Any:
        """suspend | resume | complete | terminate a transfer (a user, or the data plane when a flow fails)."""
        return await self.command("transfer", transfer_id, action, reason)

    # --- the data plane's port (dataplane.ports.TransferControl) ---------------------------------------------

    def admission(self, tx: Any, transfer: Transfer) -> Verdict:
        return self.runner.admission(tx, transfer)

    def note(
        self, tx: Any, transfer: Transfer, cause: str, why: str | None = None, detail: Mapping[str, Any] | None = None
    ) -> None:
        self.runner.note(tx, transfer, cause, why, detail)

    async def process_view(self, kind: str, pid: str, claims: VerifiedClaims) -> Reply:
        """`GET .../negotiations|transfers/{pid}` for a peer: the process if it is the peer's."""
        return await self.store.read(self.runner.view, kind, pid, self.peer(claims))

    @staticmethod
    def peer(claims: VerifiedClaims) -> Peer:
        return Peer(claims.participant_id, claims_codec.to_json(claims) if claims.credentials else None)


__all__ = ["ControlPlane"]
