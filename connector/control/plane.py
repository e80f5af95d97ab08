"""The control plane attached to a node: its step environment, engine, catalogue and peer client.

Protocol and management handlers come here; this is the only object that knows how a received message becomes
a committed change plus the follow-up work it triggers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from connector.control import catalog, negotiations, transfers
from connector.control import repository as repo
from connector.control.decisions import Decisions, PolicyDecisions
from connector.control.engine import DeliverySettings, Engine
from connector.control.negotiations import Peer, Reply
from connector.control.steps import StepEnv
from connector.protocol.auth import Authenticator, CertificateAuthenticator, StaticTokenAuthenticator

if TYPE_CHECKING:
    from connector.node.runtime import Node

log = logging.getLogger("connector.control")

RESPONSES_KEPT_FOR = 24 * 3600.0  # seconds an answer stays remembered for retries (at least)
RESPONSES_SWEEP_INTERVAL = 3600.0


class ControlPlane:
    def __init__(self, node: Node, decisions: Decisions | None = None) -> None:
        self.node = node
        config = node.config
        self.decisions = decisions or PolicyDecisions(regions=dict(config.extra.get("regions", {})))
        self.env = StepEnv(
            participant_id=node.participant_id,
            callback_url="",  # known once the protocol listener is bound (see start)
            decisions=self.decisions,
            delivery_deadline=config.dsp.delivery_deadline,
            message_spacing=config.dsp.message_spacing,
        )
        self.engine = Engine(
            node,
            self.env,
            DeliverySettings(config.dsp.retry_initial, config.dsp.retry_max, config.dsp.retry_not_found_for),
        )
        self.authenticator: Authenticator = CertificateAuthenticator()
        if config.tck.enabled:
            self.authenticator = StaticTokenAuthenticator(config.tck.authorization, config.tck.participant)
        self.catalog = catalog.CatalogService(self)
        self.start_hooks: list[Callable[[], Any]] = []

    async def start(self) -> None:
        from connector.control import seeds

        self.env.callback_url = self.node.dsp_url
        configured = seeds.of(self.node)
        if configured.assets or configured.policies or configured.offers:
            count = await self.node.store.run(seeds.apply, configured)
            log.info("configured assets, policies and offers applied", extra={"definitions": count})
        if self.node.config.tck.enabled:
            from connector.control import tck

            self.env.script = tck.TckScript()
            await self.node.store.run(tck.seed, self.node.participant_id)
        for hook in self.start_hooks:
            await hook()

    async def after_listening(self) -> None:
        self.env.callback_url = self.node.dsp_url
        await self.engine.resume()
        self.node.spawn(self._forget_old_responses(), "forget-old-responses")

    async def _forget_old_responses(self) -> None:
        """Answers are remembered by message `@id` so that a peer's retry gets the same answer; a peer retries
        for its delivery deadline at most, so after a generous margin the answers are dropped."""
        keep = timedelta(seconds=max(RESPONSES_KEPT_FOR, 2 * self.node.config.dsp.delivery_deadline))
        while True:
            dropped = await self.node.store.run(repo.forget_responses, self.env.now() - keep)
            if dropped:
                log.info("old remembered answers dropped", extra={"count": dropped})
            await asyncio.sleep(RESPONSES_SWEEP_INTERVAL)

    async def stop(self) -> None:
        await self.engine.close()

    # --- running steps --------------------------------------------------------------------------------------

    async def apply(self, kind: str, fn: Callable[..., Reply], *args: Any) -> Reply:
        """Run one received message's step in a transaction, then start the work it left pending."""
        reply, follow = await self.node.store.run(self._then_follow_up, kind, fn, lambda r: r.process_id, *args)
        if reply.process_id is not None:
            self.engine.settled(kind, reply.process_id, follow)
        return reply

    async def command(self, kind: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a user's command (start, terminate, ...) in a transaction, then deliver what it queued."""
        record, follow = await self.node.store.run(self._then_follow_up, kind, fn, lambda r: r.id, *args)
        self.engine.settled(kind, record.id, follow)
        return record

    def _then_follow_up(
        self, db: Any, kind: str, fn: Callable[..., Any], process_of: Callable[[Any], str | None], *args: Any
    ) -> tuple[Any, repo.FollowUp | None]:
        # Read in the same transaction what the engine must do next, so that it need not ask the store again.
        result = fn(db, self.env, *args)
        pid = process_of(result)
        return result, (repo.follow_up(db, kind, pid) if pid is not None else None)

    @staticmethod
    def peer(claims: Any) -> Peer:
        from connector.control import claims_codec

        return Peer(claims.participant_id, claims_codec.to_json(claims) if claims.credentials else None)


__all__ = ["ControlPlane", "negotiations", "transfers"]
