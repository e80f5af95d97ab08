"""The control plane: its step environment, engine and catalogue, made complete from the ports it is given.

Protocol and management handlers come here; this is the only object that knows how a received message becomes
a committed change plus the follow-up work it triggers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from connector.config import DspSection
from connector.control import catalog, negotiations, seeds, steps, transfers
from connector.control.decisions import Decisions
from connector.control.engine import DeliverySettings, Engine
from connector.control.negotiations import Peer, Reply
from connector.control.ports import AgreementSigner, DataPlane, EvidenceSink, no_evidence
from connector.control.steps import Script, StepEnv
from connector.policy.seam import Verdict
from connector.records.processes import Transfer
from connector.store.interface import Store
from connector.store.sql import processes as repo
from connector.tasks import Tasks
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
    ) -> None:
        self.participant_id = participant_id
        self.store = store
        self.tasks = tasks
        self.decisions = decisions
        self.definitions = definitions or seeds.Seeds()
        self._dsp = dsp
        self.env = StepEnv(
            participant_id=participant_id,
            callback=callback,
            decisions=decisions,
            delivery_deadline=dsp.delivery_deadline,
            message_spacing=dsp.message_spacing,
            script=script,
            evidence=evidence,
            dataplane=dataplane,
            signer=signer,
        )
        self.engine = Engine(
            store, tasks, peers, self.env, DeliverySettings(dsp.retry_initial, dsp.retry_max, dsp.retry_not_found_for)
        )
        self.catalog = catalog.CatalogService(store, peers, decisions, catalogue)

    async def load_definitions(self) -> None:
        """Write the configured assets, policies and offers (the configuration wins for the ids it names)."""
        definitions = self.definitions
        if definitions.assets or definitions.policies or definitions.offers:
            count = await self.store.run(seeds.apply, definitions)
            log.info("configured assets, policies and offers applied", extra={"definitions": count})

    async def resume(self) -> None:
        """Once peers can reach us: pick up unfinished steps and deliveries, and forget old answers daily."""
        await self.engine.resume()
        self.tasks.spawn(self._forget_old_responses(), "forget-old-responses")

    async def _forget_old_responses(self) -> None:
        """Answers are remembered by message `@id` so that a peer's retry gets the same answer; a peer retries
        for its delivery deadline at most, so after a generous margin the answers are dropped."""
        keep = timedelta(seconds=max(RESPONSES_KEPT_FOR, 2 * self._dsp.delivery_deadline))
        while True:
            dropped = await self.store.run(repo.forget_responses, self.env.now() - keep)
            if dropped:
                log.info("old remembered answers dropped", extra={"count": dropped})
            await asyncio.sleep(RESPONSES_SWEEP_INTERVAL)

    async def stop(self) -> None:
        await self.engine.close()

    # --- running steps --------------------------------------------------------------------------------------

    async def apply(self, kind: str, fn: Callable[..., Reply], *args: Any) -> Reply:
        """Run one received message's step in a transaction, then start the work it left pending."""
        reply, follow = await self.store.run(self._then_follow_up, kind, fn, lambda r: r.process_id, *args)
        if reply.process_id is not None and follow is not None:
            self.engine.settled(kind, reply.process_id, follow)
        return reply

    async def command(self, kind: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a user's command (start, terminate, ...) in a transaction, then deliver what it queued."""
        record, follow = await self.store.run(self._then_follow_up, kind, fn, lambda r: r.id, *args)
        assert follow is not None  # every command names its process
        self.engine.settled(kind, record.id, follow)
        return record

    async def transfer_command(self, transfer_id: str, action: str, reason: str | None) -> Any:
        """suspend | resume | complete | terminate a transfer (a user, or the data plane when a flow fails)."""
        return await self.command("transfer", transfers.command, transfer_id, action, reason)

    # --- the data plane's port (dataplane.ports.TransferControl) ---------------------------------------------

    def admission(self, tx: Any, transfer: Transfer) -> Verdict:
        return transfers.admission(tx, self.env, transfer)

    def note(
        self, tx: Any, transfer: Transfer, cause: str, why: str | None = None, detail: Mapping[str, Any] | None = None
    ) -> None:
        steps.note(tx, self.env, transfer, cause, why, detail)

    def _then_follow_up(
        self, db: Any, kind: str, fn: Callable[..., Any], process_of: Callable[[Any], str | None], *args: Any
    ) -> tuple[Any, repo.FollowUp | None]:
        # Read in the same transaction what the engine must do next, so that it need not ask the store again.
        result = fn(db, self.env, *args)
        pid = process_of(result)
        return result, (repo.follow_up(db, kind, pid) if pid is not None else None)

    async def process_view(self, kind: str, pid: str, claims: VerifiedClaims) -> Reply:
        """`GET .../negotiations|transfers/{pid}` for a peer: the process if it is the peer's."""
        module = negotiations if kind == "negotiation" else transfers
        return await self.store.read(module.get, pid, self.peer(claims))

    @staticmethod
    def peer(claims: VerifiedClaims) -> Peer:
        from connector.control import claims_codec

        return Peer(claims.participant_id, claims_codec.to_json(claims) if claims.credentials else None)


__all__ = ["ControlPlane", "negotiations", "transfers"]
