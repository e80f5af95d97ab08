"""The control plane's event loop side: runs pending steps and delivers outgoing messages, driven by events.

Nothing here polls. A step runs when something happened (a message arrived, a user asked, a delivery
succeeded); a message is sent as soon as it is queued and retried with exponential back-off only while the peer
is unreachable or answers 5xx, until its deadline, when the process ends with the reason. Messages of one process
leave in the order they were queued. At start-up every unfinished step and undelivered message is resumed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from types import ModuleType
from typing import TYPE_CHECKING, Any

from connector.control import negotiations, transfers
from connector.control import repository as repo
from connector.control.peer_client import PeerClient, PeerUnavailable
from connector.control.records import OutboxEntry
from connector.control.steps import StepEnv
from connector.errors import ConnectorError

if TYPE_CHECKING:
    from connector.node.runtime import Node

log = logging.getLogger("connector.control")

MODULES: dict[str, ModuleType] = {"negotiation": negotiations, "transfer": transfers}


@dataclass
class DeliverySettings:
    retry_initial: float = 0.2
    retry_max: float = 30.0
    retry_not_found_for: float = 0.0


class Engine:
    def __init__(self, node: "Node", env: StepEnv, settings: DeliverySettings) -> None:
        self.node = node
        self.env = env
        self.settings = settings
        self.peers = PeerClient(node)
        self._steps: dict[str, asyncio.Task[Any]] = {}
        self._drains: dict[str, asyncio.Task[Any]] = {}
        self._again_steps: set[str] = set()
        self._again_drains: set[str] = set()
        self._closing = False
        self._changed: dict[str, asyncio.Event] = {}  # process id -> set when that process changes

    @property
    def store(self) -> Any:
        return self.node.store

    # --- entry points ---------------------------------------------------------------------------------------

    def wake(self, kind: str, process_id: str) -> None:
        """Something happened to a process: run its pending step, then deliver what it queued."""
        if self._closing:
            return
        self._notify(process_id)
        if process_id in self._steps:
            self._again_steps.add(process_id)
            return
        self._steps[process_id] = self.node.spawn(self._step_loop(kind, process_id), f"step:{process_id}")

    def deliver(self, kind: str, process_id: str) -> None:
        if self._closing:
            return
        if process_id in self._drains:
            self._again_drains.add(process_id)
            return
        self._drains[process_id] = self.node.spawn(self._drain(kind, process_id), f"drain:{process_id}")

    async def resume(self) -> int:
        """After a start: pick up every unfinished step and every undelivered message."""
        def pending(db: Any) -> tuple[list[tuple[str, str]], list[str]]:
            work = [("negotiation", n.id) for n in repo.open_negotiations(db) if n.pending]
            work += [("transfer", t.id) for t in repo.open_transfers(db) if t.pending]
            return work, repo.outbox_processes(db)

        work, outbox = await self.store.read(pending)
        kinds = await self.store.read(lambda db: {
            pid: ("negotiation" if repo.get_negotiation(db, pid) else "transfer") for pid in outbox})
        for kind, pid in work:
            self.wake(kind, pid)
        for pid in outbox:
            if pid not in self._steps:
                self.deliver(kinds[pid], pid)
        if work or outbox:
            log.info("resumed unfinished work", extra={"steps": len(work), "outbox_processes": len(outbox)})
        return len(work) + len(outbox)

    async def close(self) -> None:
        self._closing = True
        tasks = list(self._steps.values()) + list(self._drains.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _notify(self, process_id: str) -> None:
        event = self._changed.pop(process_id, None)
        if event is not None:
            event.set()

    def watch(self, process_id: str) -> asyncio.Event:
        """An event set at the next change of `process_id`; take it BEFORE reading the state you wait on."""
        event = self._changed.get(process_id)
        if event is None:
            event = self._changed[process_id] = asyncio.Event()
        return event

    @staticmethod
    async def wait_for(event: asyncio.Event, timeout: float) -> None:
        """How API callers wait for a process without polling."""
        try:
            await asyncio.wait_for(event.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    # --- steps ----------------------------------------------------------------------------------------------

    async def _step_loop(self, kind: str, process_id: str) -> None:
        module = MODULES[kind]
        try:
            while True:
                more = await self.store.run(module.perform, self.env, process_id)
                self._notify(process_id)
                if more:
                    continue
                if process_id in self._again_steps:
                    self._again_steps.discard(process_id)
                    continue
                break
        except ConnectorError as exc:
            log.error("step failed", extra={"process_id": process_id, "reason": exc.reason})
        finally:
            self._steps.pop(process_id, None)
        self.deliver(kind, process_id)

    # --- delivery -------------------------------------------------------------------------------------------

    async def _drain(self, kind: str, process_id: str) -> None:
        module = MODULES[kind]
        try:
            while True:
                entry = await self.store.read(repo.next_outbox, process_id)
                if entry is None:
                    if process_id in self._again_drains:
                        self._again_drains.discard(process_id)
                        continue
                    break
                try:
                    more = await self._deliver_one(module, entry)
                except asyncio.CancelledError:
                    raise
                except Exception:  # a bug must not strand the message: log it, try again shortly
                    log.exception("delivery failed unexpectedly; retrying", extra={"process_id": process_id})
                    await asyncio.sleep(self.settings.retry_max)
                    continue
                self._notify(process_id)
                if more:
                    self.wake(kind, process_id)
        finally:
            self._drains.pop(process_id, None)

    async def _deliver_one(self, module: ModuleType, entry: OutboxEntry) -> bool:
        delay = self.settings.retry_initial
        first_attempt = datetime.now(timezone.utc)
        last_error = entry.last_error or ""
        while True:
            now = datetime.now(timezone.utc)
            if entry.not_before is not None and entry.not_before > now:
                await asyncio.sleep((entry.not_before - now).total_seconds())
            retryable = False
            try:
                response = await self.peers.post(entry.url, entry.body, expected_peer=entry.peer_id)
            except PeerUnavailable as exc:
                retryable, last_error = True, exc.reason
            except ConnectorError as exc:  # e.g. the server is not the participant we meant to talk to
                await self.store.run(module.delivery_failed, self.env, entry,
                                     f"could not deliver {entry.message_type}: {exc.reason}")
                return False
            else:
                if response.ok:
                    return bool(await self.store.run(module.delivered, self.env, entry, response.body))
                not_found_grace = (now - first_attempt).total_seconds() < self.settings.retry_not_found_for
                if response.status == 404 and not_found_grace:
                    retryable, last_error = True, f"404 from {entry.url}"
                else:
                    reason = (f"the peer refused our {entry.message_type} with {response.status}: "
                              f"{response.error_reason()}")
                    await self.store.run(module.delivery_failed, self.env, entry, reason)
                    return False
            assert retryable
            if datetime.now(timezone.utc) >= entry.deadline_at:
                await self.store.run(module.delivery_failed, self.env, entry,
                                     f"the peer stayed unreachable past the delivery deadline; last error: {last_error}")
                return False
            await self.store.run(repo.outbox_failed_attempt, entry.id, last_error)
            log.info("delivery retry", extra={"process_id": entry.process_id, "type": entry.message_type,
                                              "in_s": round(delay, 2), "error": last_error})
            remaining = (entry.deadline_at - datetime.now(timezone.utc)).total_seconds()
            await asyncio.sleep(max(0.0, min(delay, remaining)))
            delay = min(delay * 2, self.settings.retry_max)
            # The process may have ended meanwhile (the peer terminated it): then nothing is left to send.
            current = await self.store.read(repo.next_outbox, entry.process_id)
            if current is None or current.id != entry.id:
                return False
